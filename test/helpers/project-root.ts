import { existsSync } from "node:fs";

/** The repository's root, from this file's source under test/ or from its build under lib/ (the demo runs the build). */
export const PROJECT_ROOT_URL = new URL(existsSync(new URL("../../package.json", import.meta.url)) ? "../../" : "../../../", import.meta.url);
