// What kto uses of unzip-stream, which ships no types.
declare module "unzip-stream" {
  import type { Readable, Transform } from "node:stream";
  namespace unzip {
    interface Entry extends Readable {
      path: string;
      isDirectory: boolean;
      autodrain(): void;
    }
    function Parse(): Transform;
  }
  export default unzip;
}
