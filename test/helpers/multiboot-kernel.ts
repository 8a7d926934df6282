import { writeFile } from "node:fs/promises";
import { execa } from "execa";

/*
 * A multiboot kernel that prints each module QEMU loaded for it, as `<bytes>` on a line of
 * its own on the serial port, then triple-faults, which ends QEMU under -no-reboot. QEMU
 * boots any x86 kernel without Linux's setup header this way, and builds its module list
 * from `-initrd`, split at commas, each name cut at its first space.
 */
const SOURCE = `
.code32
.text
.globl _start
.align 4
  .long 0x1BADB002
  .long 0
  .long -0x1BADB002
_start:
  mov 20(%ebx), %ecx      # mods_count
  mov 24(%ebx), %esi      # mods_addr
  mov $0x3f8, %dx
next_module:
  test %ecx, %ecx
  jz done
  mov (%esi), %edi        # mod_start
  mov 4(%esi), %ebp       # mod_end
  mov $'<', %al
  out %al, %dx
next_byte:
  cmp %ebp, %edi
  jae end_module
  mov (%edi), %al
  out %al, %dx
  inc %edi
  jmp next_byte
end_module:
  mov $'>', %al
  out %al, %dx
  mov $'\\n', %al
  out %al, %dx
  add $16, %esi
  dec %ecx
  jmp next_module
done:
  lidt empty_idt
  int3
.align 4
empty_idt:
  .word 0
  .long 0
`;

/** Assembles the kernel with binutils into `path`. */
export async function writeModuleListingKernel(path: string): Promise<void> {
  const source = `${path}.S`;
  await writeFile(source, SOURCE);
  await execa("as", ["--32", "-o", `${path}.o`, source]);
  await execa("ld", ["-m", "elf_i386", "-N", "-Ttext", "0x100000", "-e", "_start", "-o", path, `${path}.o`]);
}

/** The modules such a kernel printed, from its console log. */
export function listedModules(consoleLog: string): string[] {
  return [...consoleLog.matchAll(/^<(.*)>\r?$/gm)].map((match) => match[1]!);
}
