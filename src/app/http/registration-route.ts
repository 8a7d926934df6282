import type { ServerResponse } from "node:http";
import { issuesOf, parseJson, send } from "./http-json.js";
import type { BodyIntake } from "./request-body.js";
import { RegistrationError, registrationSchema, registrationSecretMatches, type Registration, type RegistrationRequest } from "./runner-registration.js";

/** Just-in-time runner registration; absent when no registration secret is set. */
export interface RegistrationDeps {
  secret: string;
  register: (request: RegistrationRequest) => Promise<Registration>;
}

/** Answers POST /kto/api/runners/jitconfig: a runner host with the registration secret gets a runner's just-in-time config. */
export async function serveRegistration(registration: RegistrationDeps | undefined, intake: BodyIntake, response: ServerResponse): Promise<void> {
  const request = response.req;
  if (!registration) return send(response, 404, { message: "runner registration is off: set KTO_RUNNER_REGISTRATION_SECRET on the App" });
  const secret = /^Bearer (.+)$/.exec(request.headers.authorization ?? "")?.[1];
  if (!secret || !registrationSecretMatches(registration.secret, secret))
    return send(response, 401, { message: "the runner registration secret is missing or wrong" });
  const body = parseJson((await intake.read(response, 64 * 1024)).text());
  if (!body.ok) return send(response, 400, { message: body.message });
  const parsed = registrationSchema.safeParse(body.value);
  if (!parsed.success) return send(response, 400, { message: issuesOf(parsed.error) });
  try {
    send(response, 201, await registration.register(parsed.data));
  } catch (error) {
    if (!(error instanceof RegistrationError)) throw error;
    send(response, error.status, { message: error.message });
  }
}
