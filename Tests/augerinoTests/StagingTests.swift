import Bundle
import Foundation
import TestSupport
import XCTest

/// `augerino bundle check` and `train` unpack a bundle into a staging folder in TMPDIR: it goes
/// on every way out (done, failed, SIGTERM), one left by a crash goes at the next command, and
/// errors name the bundle's members with control characters escaped, never the staging folder.
final class StagingTests: XCTestCase {
    var scratch: URL!
    override func setUpWithError() throws { scratch = try makeScratchFolder("staging") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    var tmp: URL { scratch.appendingPathComponent("tmp") }

    func augerino(_ arguments: [String]) throws -> Process {
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = DaemonHarness.binary
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": tmp.path]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = Pipe()
        try process.run()
        return process
    }

    func staged() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: tmp.path).filter { $0.hasPrefix("augerino-staging-") } }

    func test_checkOfAValidAndAnInvalidBundle_leavesNoStagingFolder_andNamesTheMemberEscaped() throws {
        let valid = scratch.appendingPathComponent("ok.tar.gz")
        try TinyBundle.make(seed: 1, epochs: 1).write(to: valid)
        let good = try augerino(["bundle", "check", valid.path])
        good.waitUntilExit()
        XCTAssertEqual(good.terminationStatus, 0)

        // A member whose name holds a newline and an escape, in a bundle with no manifest.
        let bad = scratch.appendingPathComponent("bad.tar.gz")
        try Gzip.compress(Tar.write([("evil\nERROR forged\u{1b}[2J.idx", Data([1, 2, 3]))])).write(to: bad)
        let failing = try augerino(["bundle", "check", bad.path])
        let errors = String(decoding: (failing.standardError as! Pipe).fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        failing.waitUntilExit()
        XCTAssertEqual(failing.terminationStatus, 1)
        XCTAssertTrue(errors.hasPrefix("Error: bad.tar.gz: "), errors)
        XCTAssertEqual(errors.split(separator: "\n").count, 1, "one line: \(errors)")
        XCTAssertFalse(errors.unicodeScalars.contains("\u{1b}"), errors)
        XCTAssertFalse(errors.contains(tmp.path), "the staging folder is not named: \(errors)")
        XCTAssertEqual(try staged(), [])
    }

    func test_sigtermDuringTrain_removesTheStagingFolder_andACrashsLeftoverGoesAtTheNextCommand() throws {
        let bundle = scratch.appendingPathComponent("long.tar.gz")
        try TinyBundle.make(seed: 2, epochs: 10_000).write(to: bundle)
        let train = try augerino(["train", bundle.path, "--out", scratch.appendingPathComponent("result").path, "--threads", "1"])
        let start = Date()
        while try staged().isEmpty && Date().timeIntervalSince(start) < 30 { usleep(20_000) }
        XCTAssertFalse(try staged().isEmpty, "train unpacked the bundle into a staging folder")
        usleep(300_000)
        kill(train.processIdentifier, SIGTERM)
        train.waitUntilExit()
        XCTAssertEqual(try staged(), [], "SIGTERM removed it")

        // A staging folder of a process that is gone (a crash) is removed by the next command.
        let stale = tmp.appendingPathComponent("augerino-staging-999999999-abc123")
        try FileManager.default.createDirectory(at: stale.appendingPathComponent("bundle"), withIntermediateDirectories: true)
        let check = try augerino(["bundle", "check", bundle.path])
        check.waitUntilExit()
        XCTAssertEqual(check.terminationStatus, 0)
        XCTAssertEqual(try staged(), [])
    }
}
