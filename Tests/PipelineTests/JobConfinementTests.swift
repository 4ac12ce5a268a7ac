import Foundation
@testable import Pipeline
import XCTest

/// The job child's system-call filter, run on a small classic-BPF interpreter (the naive twin
/// of the kernel's): refused calls fail with EPERM, everything else passes, and another
/// architecture's calls end the process. (The filter's installation is checked on a real
/// child in DaemonConfinementTests.)
final class JobConfinementTests: XCTestCase {
    /// Runs `program` on seccomp_data {nr, arch}; returns the verdict.
    func verdict(_ program: [JobConfinement.Instruction], number: UInt32, architecture: UInt32) -> UInt32 {
        var accumulator: UInt32 = 0, pc = 0
        while pc < program.count {
            let instruction = program[pc]
            switch instruction.code {
            case 0x20:  // ld [k]
                accumulator = instruction.k == 0 ? number : instruction.k == 4 ? architecture : 0
                pc += 1
            case 0x15:  // jeq k
                pc += 1 + Int(accumulator == instruction.k ? instruction.jumpTrue : instruction.jumpFalse)
            case 0x35:  // jge k
                pc += 1 + Int(accumulator >= instruction.k ? instruction.jumpTrue : instruction.jumpFalse)
            case 0x06:  // ret k
                return instruction.k
            default:
                XCTFail("unknown instruction \(instruction.code)")
                return 0
            }
        }
        XCTFail("the program ran off its end")
        return 0
    }

    func test_filter_refusesNetworkAndDebuggingCalls_allowsTheRest_andEndsOtherArchitectures() throws {
        guard JobConfinement.architecture != 0 else { throw XCTSkip("no system-call filter is written for this architecture") }
        let program = JobConfinement.filter()
        let arch = JobConfinement.architecture
        let refuse = 0x0005_0000 | UInt32(EPERM), allow: UInt32 = 0x7FFF_0000, kill: UInt32 = 0x8000_0000
        for number in JobConfinement.refused { XCTAssertEqual(verdict(program, number: number, architecture: arch), refuse, "call \(number)") }
        #if arch(x86_64)
        for (number, name) in [(0, "read"), (1, "write"), (257, "openat"), (9, "mmap"), (202, "futex"), (56, "clone"), (231, "exit_group"), (53, "socketpair")] {
            XCTAssertEqual(verdict(program, number: UInt32(number), architecture: arch), allow, name)
        }
        XCTAssertEqual(verdict(program, number: 41, architecture: arch), refuse, "socket: no network")
        XCTAssertEqual(verdict(program, number: 0x4000_0000 | 41, architecture: arch), kill, "x32 calls")
        #endif
        XCTAssertEqual(verdict(program, number: 3, architecture: 0x4000_0003), kill, "i386 calls")
        XCTAssertLessThan(program.count, 256)
    }
}
