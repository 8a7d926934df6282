import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * A tree whose Makefile answers the goals a build runs (a base config target,
 * olddefconfig, bzImage) in a few lines: not a kernel, but it runs in the builder image as
 * one would, so the container, the outputs and a build's ending are tested in seconds.
 * `broken` prints a compiler error at init/main.c:12:5 and fails; `noImage` succeeds
 * without making bzImage; `kernel` is a real kernel the build hands on as its bzImage.
 */
export async function fakeKernelTree(dir: string, options: { broken?: boolean; noImage?: boolean; kernel?: string } = {}): Promise<string> {
  await mkdir(join(dir, "init"), { recursive: true });
  await writeFile(join(dir, "init", "main.c"), "int main(void)\n{\n\treturn 0;\n}\n");
  if (options.kernel) await copyFile(options.kernel, join(dir, "kernel.img"));
  const made = options.kernel ? "cp kernel.img $(O)/arch/x86/boot/bzImage" : "echo kernel > $(O)/arch/x86/boot/bzImage";
  const image = options.noImage ? "\t@true" : `\t@mkdir -p $(O)/arch/x86/boot && ${made}`;
  const build = options.broken
    ? ["\t@echo \"/src/init/main.c:12:5: error: expected ';' before 'return'\"", "\t@false"]
    : [image, "\t@echo elf > $(O)/vmlinux && echo map > $(O)/System.map", '\t@echo "  Kernel: arch/x86/boot/bzImage is ready"'];
  await writeFile(
    join(dir, "Makefile"),
    [
      "O ?= .",
      "tinyconfig defconfig:",
      "\t@printf 'CONFIG_64BIT=y\\nCONFIG_KUNIT=y\\n' > $(O)/.config",
      "olddefconfig:",
      "\t@test -f $(O)/.config",
      "bzImage:",
      ...build,
      "",
    ].join("\n"),
  );
  return dir;
}
