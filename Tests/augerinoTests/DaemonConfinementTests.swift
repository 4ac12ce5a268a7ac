import Bundle
import Foundation
import NN
import Pipeline
import TestSupport
import XCTest

/// Each job runs in a confined child process of the daemon's binary: real children, real
/// resource limits and signals. Bundles that exhaust memory, write too much or burn too much
/// CPU, children that crash or hang: each job fails with a reason, the daemon serves on.
final class DaemonConfinementTests: XCTestCase {
    /// The pid of the daemon's job child, once one runs (found through /proc's lists of children;
    /// the calling test is skipped where the kernel keeps none).
    func child(of daemon: DaemonHarness, timeout: Double = 60) throws -> Int32? {
        guard let parent = daemon.process?.processIdentifier else { return nil }
        guard FileManager.default.fileExists(atPath: "/proc/self/task/\(getpid())/children") else {
            throw XCTSkip("this kernel keeps no /proc/PID/task/TID/children lists (CONFIG_PROC_CHILDREN), by which the test finds the job's process; skipped")
        }
        var found: Int32?
        daemon.waitUntil("the job's child process runs", timeout: timeout) {
            let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(parent)/task")
            for task in tasks {
                let children = (try? String(contentsOfFile: "/proc/\(parent)/task/\(task)/children", encoding: .utf8)) ?? ""
                if let pid = children.split(separator: " ").compactMap({ Int32($0) }).first { found = pid; return true }
            }
            return false
        }
        return found
    }

    func statusField(_ pid: Int32, _ field: String) -> String? {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        return status.split(separator: "\n").first { $0.hasPrefix(field + ":") }.map { $0.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces) }
    }

    func errorReport(_ daemon: DaemonHarness, _ name: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: daemon.outbox.appendingPathComponent("\(name)/error.json"))) as! [String: Any]
    }

    func test_aJobsChild_runsWithItsLimits_aSystemCallFilter_noNewPrivileges_andAClearedEnvironment() throws {
        let daemon = try confinedDaemon("confined", job: "memory_limit = 1G\ncpu_limit = 2h\nfile_size_limit = 64M\nopen_files = 128",
                                        environment: ["AUGERINO_TEST_SECRET": "must-not-reach-the-child"])
        try daemon.drop(TinyBundle.make(seed: 81, epochs: 500), as: "long.tar.gz")
        let pid = try XCTUnwrap(try child(of: daemon))
        daemon.waitUntil("the child is training") { try daemon.jobs().first?.progress != nil }
        XCTAssertEqual(statusField(pid, "Seccomp"), "2", "a seccomp filter is installed")
        XCTAssertEqual(statusField(pid, "NoNewPrivs"), "1")
        let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
        for (name, value) in [("Max address space", "1073741824"), ("Max cpu time", "7200"), ("Max file size", "67108864"), ("Max open files", "128"), ("Max core file size", "0")] {
            let line = limits.split(separator: "\n").first { $0.hasPrefix(name) }.map(String.init) ?? ""
            XCTAssertTrue(line.split(separator: " ", omittingEmptySubsequences: true).contains(Substring(value)), "\(name): \(line)")
        }
        let environment = try String(decoding: Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ")), as: UTF8.self)
        XCTAssertFalse(environment.contains("AUGERINO_TEST_SECRET"), "the daemon's environment does not reach the child: \(environment)")
        XCTAssertEqual(try daemon.command(["cancel", "1"]).status, 0)
        daemon.waitUntil("the child stops when the job is cancelled", timeout: 15) { try daemon.jobs().first?.state == .cancelled }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/proc/\(pid)/status"), "the child is gone")
        daemon.stop()
    }

    /// Bundles of plain zeros, which compress to almost nothing: `images` 32x32 images in one IDX
    /// file, or one extra member of `extraBytes`.
    func zeroBundle(images: Int, extraBytes: Int = 0) throws -> Data {
        let folder = try makeScratchFolder("zero-bundle")
        defer { try? FileManager.default.removeItem(at: folder) }
        var idx = Data([0, 0, 8, 3])
        for dimension in [images, 32, 32] { idx += withUnsafeBytes(of: UInt32(dimension).bigEndian) { Data($0) } }
        idx += Data(count: images * 32 * 32)
        try idx.write(to: folder.appendingPathComponent("images.idx"))
        var labels = Data([0, 0, 8, 1]) + withUnsafeBytes(of: UInt32(images).bigEndian) { Data($0) }
        labels += Data((0..<images).map { UInt8($0 % 2) })
        try labels.write(to: folder.appendingPathComponent("labels.idx"))
        if extraBytes > 0 { try Data(count: extraBytes).write(to: folder.appendingPathComponent("padding.bin")) }
        let manifest: [String: Any] = ["format": 1, "name": "zeros", "task": "classification",
                                       "splits": ["train": ["inputs": "images.idx", "targets": "labels.idx"]],
                                       "model": ["architecture": "mlp", "width": 4], "training": ["epochs": 1, "batch_size": 8]]
        try JSONSerialization.data(withJSONObject: manifest).write(to: folder.appendingPathComponent("manifest.json"))
        let packed = folder.appendingPathComponent("bundle.tar.gz")
        try BundleArchive.pack(folder, to: packed)
        return try Data(contentsOf: packed)
    }

    /// A daemon whose daemon.conf has these `[job]` lines (and tolerates zeros that compress
    /// a thousand times).
    func confinedDaemon(_ purpose: String, job: String, environment: [String: String] = [:]) throws -> DaemonHarness {
        let daemon = try DaemonHarness(purpose)
        daemon.environment = environment
        try """
            inbox = inbox
            outbox = outbox
            state = state
            [daemon]
            threads = 1
            rescan_interval = 0.5
            settle_time = 0
            max_attempts = 1
            [bundle]
            max_compression_ratio = 100000
            [job]
            \(job)
            [training]
            probe_images = 4
            """.write(to: daemon.config, atomically: false, encoding: .utf8)
        try daemon.start()
        return daemon
    }

    /// Waits until job `name` failed; returns its error.json's sentence, after checking that
    /// it is the process's fault and that the daemon is up.
    func failure(_ daemon: DaemonHarness, _ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        daemon.waitUntil("\(name) fails", timeout: 120, file: file, line: line) {
            try daemon.jobs().contains { $0.name == name && $0.state == .failed }
        }
        let report = try errorReport(daemon, name)
        XCTAssertEqual(report["fault"] as? String, "process", "\(report)", file: file, line: line)
        XCTAssertTrue(daemon.isRunning, "the daemon serves on", file: file, line: line)
        return report["error"] as? String ?? ""
    }

    func test_bundlesThatExhaustMemoryOrBurnCPU_andChildrenThatCrashOrHang_eachFailWithAReason_andTheDaemonServesOn() throws {
        let daemon = try confinedDaemon("limits", job: "memory_limit = 512M\ncpu_limit = 3\nsilence_limit = 2")

        // 100,000 images of 32x32: 100 MiB of bytes, 400 MiB more as floats: past 512 MiB of
        // address space, far below this machine's memory.
        try daemon.drop(zeroBundle(images: 100_000), as: "memory.tar.gz")
        let memory = try failure(daemon, "memory")
        XCTAssertTrue(memory.contains("exceeded its 512 MiB memory limit while validate (images.idx)") && memory.contains("[job] memory_limit"), memory)
        XCTAssertTrue(memory.contains("failed to allocate"), "the runtime's own words: \(memory)")

        // Training past 3 s of CPU time: SIGXCPU.
        try daemon.drop(TinyBundle.make(seed: 82, epochs: 10_000), as: "cpu.tar.gz")
        let cpu = try failure(daemon, "cpu")
        XCTAssertTrue(cpu.contains("CPU-time limit of 3 s while train") && cpu.contains("[job] cpu_limit"), cpu)

        // A child that hangs (stopped, so it says nothing): ended after silence_limit.
        try daemon.drop(TinyBundle.make(seed: 83, epochs: 10_000), as: "hang.tar.gz")
        daemon.waitUntil("the child is training") { try daemon.jobs().contains { $0.name == "hang" && $0.progress != nil } }
        kill(try XCTUnwrap(try child(of: daemon)), SIGSTOP)
        let hang = try failure(daemon, "hang")
        XCTAssertTrue(hang.contains("said nothing for 2 s while train") && hang.contains("[job] silence_limit"), hang)

        // A child that crashes.
        try daemon.drop(TinyBundle.make(seed: 84, epochs: 10_000), as: "crash.tar.gz")
        daemon.waitUntil("the child is training") { try daemon.jobs().contains { $0.name == "crash" && $0.progress != nil } }
        kill(try XCTUnwrap(try child(of: daemon)), SIGSEGV)
        let crash = try failure(daemon, "crash")
        XCTAssertTrue(crash.contains("crashed (SIGSEGV) while train"), crash)

        // And a valid bundle after all of them is done.
        try daemon.drop(TinyBundle.make(seed: 85, epochs: 1), as: "valid.tar.gz")
        daemon.waitUntil("the valid bundle is done", timeout: 120) { try daemon.jobs().contains { $0.name == "valid" && $0.state == .done } }
        XCTAssertEqual(try daemon.jobs().filter { $0.state == .failed }.count, 4)
        daemon.stop()
    }

    func test_aBundleMemberPastTheFileSizeLimit_endsTheChildWhileUnpacking_withAReason() throws {
        let daemon = try confinedDaemon("filesize", job: "file_size_limit = 1M")
        try daemon.drop(zeroBundle(images: 16, extraBytes: 2 << 20), as: "filesize.tar.gz")
        let fileSize = try failure(daemon, "filesize")
        XCTAssertTrue(fileSize.contains("larger than its 1 MiB limit while extract") && fileSize.contains("[job] file_size_limit"), fileSize)
        try daemon.drop(TinyBundle.make(seed: 87, epochs: 1), as: "valid.tar.gz")
        daemon.waitUntil("the valid bundle is done", timeout: 120) { try daemon.jobs().contains { $0.name == "valid" && $0.state == .done } }
        daemon.stop()
    }

    func test_killDashNineOfTheChild_atRandomPoints_theJobResumesToBitwiseTheUninterruptedWeights() throws {
        let bundle = try TinyBundle.make(seed: 86, epochs: 150)
        let reference = try DaemonHarness("child-reference")
        try reference.start()
        try reference.drop(bundle, as: "r.tar.gz")
        reference.waitUntil("the reference run finishes", timeout: 120) { try reference.jobs().first?.state == .done }
        reference.stop()

        let daemon = try DaemonHarness("child-kill9", extraConfiguration: "max_attempts = 10")
        try daemon.start()
        try daemon.drop(bundle, as: "r.tar.gz")
        var kills = 0, lastEpoch = 0
        var random = SystemRandomNumberGenerator()
        while kills < 4 {
            daemon.waitUntil("training progresses past epoch \(lastEpoch)") {
                let job = try daemon.jobs().first
                return job?.state == .done || (job?.state == .running && (job?.progress?.epoch ?? 0) > lastEpoch)
            }
            guard let job = try daemon.jobs().first, job.state != .done, let pid = try child(of: daemon) else { break }
            lastEpoch = job.progress?.epoch ?? lastEpoch
            usleep(UInt32.random(in: 0...100_000, using: &random))
            kill(pid, SIGKILL)
            kills += 1
        }
        daemon.waitUntil("the job finishes after \(kills) kills of its child", timeout: 120) { try daemon.jobs().first?.state == .done }
        XCTAssertGreaterThanOrEqual(kills, 2)
        XCTAssertTrue(daemon.logText.contains("SIGKILL"), "each kill is a recorded attempt")
        XCTAssertEqual(try daemon.modelTensors("r"), try reference.modelTensors("r"), "bitwise the weights of the uninterrupted run")
        daemon.stop()
    }
}
