import Foundation
import Logging
@testable import Pipeline
import TestSupport
import XCTest

/// Quarantine retention and size cap, and the expiry of error results, on real folders.
final class HousekeepingTests: XCTestCase {
    var root: URL!
    var state: StateDirectory!
    var outbox: Outbox!

    override func setUpWithError() throws {
        root = try makeScratchFolder("housekeeping")
        state = StateDirectory(root.appendingPathComponent("state"))
        try state.create()
        outbox = Outbox(root.appendingPathComponent("outbox"))
        try FileManager.default.createDirectory(at: outbox.folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: root) }

    func housekeeping(_ edit: (inout DaemonConfiguration) -> Void) -> Housekeeping {
        var configuration = DaemonConfiguration(folder: root)
        edit(&configuration)
        return Housekeeping(state: state, outbox: outbox, configuration: configuration, logger: Logger(label: "test"))
    }

    func quarantine(_ name: String, bytes: Int) throws {
        try Data(count: bytes).write(to: state.quarantine.appendingPathComponent(name))
        usleep(20_000)  // distinct change times, oldest first
    }

    func remaining() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: state.quarantine.path).sorted() }

    func test_quarantine_overTheSizeCap_losesItsOldestBundlesFirst() throws {
        try quarantine("1-old", bytes: 400)
        try quarantine("2-mid", bytes: 400)
        try quarantine("3-new", bytes: 400)
        housekeeping { $0.quarantineMaxSize = 1000 }.run()
        XCTAssertEqual(try remaining(), ["2-mid", "3-new"])
        housekeeping { $0.quarantineMaxSize = 0 }.run()
        XCTAssertEqual(try remaining(), ["2-mid", "3-new"], "0: no cap")
    }

    func test_quarantine_olderThanTheRetention_goes_andZeroKeepsForEver() throws {
        try quarantine("a", bytes: 10)
        housekeeping { $0.quarantineRetention = 3600 }.run(now: Date() + 60)
        XCTAssertEqual(try remaining(), ["a"], "younger than the retention")
        housekeeping { $0.quarantineRetention = 0 }.run(now: Date() + 1e9)
        XCTAssertEqual(try remaining(), ["a"], "0: for ever")
        housekeeping { $0.quarantineRetention = 3600 }.run(now: Date() + 3700)
        XCTAssertEqual(try remaining(), [])
    }

    func test_errorResults_expire_butResultsWithAModelAndOtherFoldersStay() throws {
        func entry(_ name: String, files: [String]) throws {
            let folder = outbox.folder.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for file in files {
                let text = file == "error.json" ? #"{"schema": "augerino.error/1"}"# : "x"
                try Data(text.utf8).write(to: folder.appendingPathComponent(file))
            }
        }
        try entry("failed", files: ["error.json", "job.json"])
        try entry("trained", files: ["model.safetensors", "error.json"])
        try entry("users-own", files: ["notes.txt"])
        housekeeping { $0.errorRetention = 86_400 }.run(now: Date() + 3600)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: outbox.folder.path).sorted(), ["failed", "trained", "users-own"])
        housekeeping { $0.errorRetention = 86_400 }.run(now: Date() + 90_000)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: outbox.folder.path).sorted(), ["trained", "users-own"])
    }
}
