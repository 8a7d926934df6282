import { exitWhenDone } from "./exit-when-done.js";
import { run } from "./run.js";

await run();
exitWhenDone();
