import { describe, expect, it } from "@jest/globals";
import { describeQemuEnd, guestPrinted, qemuStderrLine } from "../../src/runners/qemu-failure.js";
import { isInfrastructureError, JobInputError, QemuHostError, UnsupportedJobError } from "../../src/runners/errors.js";
import { machineFor } from "../../src/runners/guest-arch.js";

// What qemu-system-x86_64 8.x prints on a nested host whose KVM cannot set IA32_ARCH_CAPABILITIES.
const MSR_ABORT = [
  "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69",
  "qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.",
  "",
].join("\n");

describe("qemu's end, in its own words", () => {
  it("names the signal and qemu's error line, never 'exited with null'", () => {
    expect(describeQemuEnd("/usr/bin/qemu-system-x86_64", { exitCode: null, signal: "SIGABRT", stderr: MSR_ABORT })).toBe(
      "qemu-system-x86_64 aborted (SIGABRT): failed to set MSR 0x10a to 0x69",
    );
    expect(describeQemuEnd("qemu-system-x86_64", { exitCode: null, signal: 9, stderr: "" })).toBe(
      "qemu-system-x86_64 was killed (SIGKILL) and printed nothing on stderr",
    );
    expect(
      describeQemuEnd("qemu-system-aarch64", {
        exitCode: 1,
        signal: null,
        stderr: "qemu-system-aarch64: -accel kvm: failed to initialize kvm: Inappropriate ioctl for device\n",
      }),
    ).toBe("qemu-system-aarch64 exited with status 1: -accel kvm: failed to initialize kvm: Inappropriate ioctl for device");
  });

  it("takes the last line when there is no error line, and skips qemu's note about the signal kto sent", () => {
    expect(
      qemuStderrLine("qemu-system-x86_64: warning: host doesn't support requested feature\nqemu-system-x86_64: terminating on signal 15 from pid 7\n"),
    ).toBe("warning: host doesn't support requested feature");
    expect(qemuStderrLine("\n\n")).toBeNull();
  });

  it("does not count firmware escape sequences as the guest printing", () => {
    expect(guestPrinted("\x1bc\x1b[?7l\x1b[2J\x1b[0m\r\n")).toBe(false);
    expect(guestPrinted("\x1bc\x1b[2J[    0.000000] Linux version 6.1")).toBe(true);
  });
});

describe("whose fault a job that could not run is", () => {
  it("the config's for inputs and sizes no host gives; the host's for qemu failing, a lost KVM, and what kto did not foresee", () => {
    expect(isInfrastructureError(new JobInputError("kernel", "/w/bzImage", "no such file"))).toBe(false);
    expect(isInfrastructureError(new UnsupportedJobError("j", "needs 64 CPUs"))).toBe(false);
    expect(isInfrastructureError(new UnsupportedJobError("j", "labels ask for kvm", "host"))).toBe(true);
    expect(isInfrastructureError(new QemuHostError("qemu-system-x86_64 aborted (SIGABRT): …", "kvm"))).toBe(true);
    expect(isInfrastructureError(new Error("socket hang up"))).toBe(true);
  });
});

describe("the machine a guest gets", () => {
  it("an arm64 KVM guest gets the host's best GIC (GICv3-only hosts have no GICv2 to give); TCG and x86 keep their defaults", () => {
    expect(machineFor("arm64", "kvm")).toBe("virt,gic-version=max");
    expect(machineFor("arm64", "tcg")).toBe("virt");
    expect(machineFor("x86_64", "kvm")).toBe("pc");
  });
});
