export * from "./build-plan.js";
export * from "./duration.js";
export * from "./errors.js";
export * from "./job-spec.js";
export * from "./limits.js";
export * from "./load-config.js";
export * from "./schema.js";
export * from "./size.js";
