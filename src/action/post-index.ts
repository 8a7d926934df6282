import { exitWhenDone } from "./exit-when-done.js";
import { post } from "./post.js";

await post();
exitWhenDone();
