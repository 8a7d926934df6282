import type { ServerResponse } from "node:http";
import type { z } from "zod";
import { issuesOf, parseJson, send } from "./http-json.js";
import type { BodyIntake } from "./request-body.js";
import {
  RegistrationError,
  registeredSchema,
  registrationSchema,
  registrationSecretMatches,
  type RegisteredReport,
  type Registration,
  type RegistrationRequest,
} from "./runner-registration.js";
import type { TokenGrant } from "./token-registration.js";

/** Runner registration through the App; absent when no registration secret is set. */
export interface RegistrationDeps {
  secret: string;
  /** A just-in-time runner: POST /kto/api/runners/jitconfig. */
  register: (request: RegistrationRequest) => Promise<Registration>;
  /** A registration token for config.sh: POST /kto/api/runners/registration-token. */
  grant: (request: RegistrationRequest) => Promise<TokenGrant>;
  /** The runner config.sh registered: POST /kto/api/runners/registered. */
  record: (report: RegisteredReport) => Promise<{ runnerId: number }>;
}

export type RegistrationRoute = "jitconfig" | "registration-token" | "registered";

/** Answers a runner host's POST under /kto/api/runners/: with the registration secret, a JIT config, a registration token, or a registered runner recorded. */
export async function serveRegistration(
  registration: RegistrationDeps | undefined,
  route: RegistrationRoute,
  intake: BodyIntake,
  response: ServerResponse,
): Promise<void> {
  const request = response.req;
  if (!registration) return send(response, 404, { message: "runner registration is off: set KTO_RUNNER_REGISTRATION_SECRET on the App" });
  const secret = /^Bearer (.+)$/.exec(request.headers.authorization ?? "")?.[1];
  if (!secret || !registrationSecretMatches(registration.secret, secret))
    return send(response, 401, { message: "the runner registration secret is missing or wrong" });
  const body = parseJson((await intake.read(response, 64 * 1024)).text());
  if (!body.ok) return send(response, 400, { message: body.message });
  const answer = <S extends z.ZodTypeAny>(schema: S, act: (value: z.output<S>) => Promise<unknown>) => {
    const parsed = schema.safeParse(body.value);
    if (!parsed.success) return { status: 400, body: { message: issuesOf(parsed.error) } };
    return act(parsed.data).then((value) => ({ status: 201, body: value }));
  };
  try {
    const { status, body: sent } = await (route === "registered"
      ? answer(registeredSchema, registration.record)
      : answer(registrationSchema, route === "jitconfig" ? registration.register : registration.grant));
    send(response, status, sent);
  } catch (error) {
    if (!(error instanceof RegistrationError)) throw error;
    send(response, error.status, { message: error.message });
  }
}
