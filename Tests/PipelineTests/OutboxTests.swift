import Foundation
@testable import Pipeline
import TestSupport
import XCTest

final class OutboxTests: XCTestCase {
    func test_publish_neverOverwrites_andLeavesNoTemporaryFolder() throws {
        let folder = try makeScratchFolder("outbox")
        defer { try? FileManager.default.removeItem(at: folder) }
        let outbox = Outbox(folder)
        var reserved: [String] = []
        for job in Int64(1)...3 {
            _ = try outbox.publish(base: "result", job: job, reserve: { reserved.append($0) }) { temporary in
                try Data("{\"id\": \(job), \"result\": \"\(job == 3 ? "failed" : "done")\"}".utf8).write(to: temporary.appendingPathComponent("job.json"))
            }
        }
        XCTAssertEqual(reserved, ["result", "result-2", "result-3"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted(), ["result", "result-2", "result-3"])
        XCTAssertEqual(outbox.publishedResult("result-2", job: 2, linkTarget: nil), "done")
        XCTAssertEqual(outbox.publishedResult("result-3", job: 3, linkTarget: nil), "failed", "an error.json entry is told apart")
        XCTAssertNil(outbox.publishedResult("result-2", job: 3, linkTarget: nil), "another job's result")
        let link = try outbox.publishLink(base: "copy", to: "result") { _ in }
        XCTAssertEqual(outbox.publishedResult(link, job: 9, linkTarget: "result"), "link")
        XCTAssertNil(outbox.publishedResult(link, job: 9, linkTarget: "other"))
    }

    func test_publish_whenFillingFails_removesTheTemporaryFolder_andLeftoversGoAtStart() throws {
        let folder = try makeScratchFolder("outbox")
        defer { try? FileManager.default.removeItem(at: folder) }
        let outbox = Outbox(folder)
        struct Boom: Error {}
        XCTAssertThrowsError(try outbox.publish(base: "r", job: 1, reserve: { _ in }) { _ in throw Boom() })
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), [])
        try FileManager.default.createDirectory(at: outbox.temporary("5"), withIntermediateDirectories: false)
        outbox.removeLeftovers()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), [], "this process's own, from before it started publishing")
    }

    /// A fleet shares one outbox: a daemon (re)starting on one host while another host fills a
    /// result must not pull that result's files from under it (a result published without its
    /// model, as the fleet test once saw after its kill -9).
    func test_removeLeftovers_takesOnlyWhatAGoneProcessOfThisHostLeft_neverAnotherHostsResultBeingFilled() throws {
        let folder = try makeScratchFolder("outbox")
        defer { try? FileManager.default.removeItem(at: folder) }
        let here = Outbox(folder, host: "host-a"), there = Outbox(folder, host: "host-b")
        // A process of host-a that is gone: a child that has exited.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let made = [".augerino-tmp-\(child.processIdentifier)-7@host-a",  // a gone process of this host: removed
                    ".augerino-tmp-1-7@host-a",  // init, alive: another daemon of this name, left
                    ".augerino-tmp-\(child.processIdentifier)-8@host-b",  // another host's: left
                    ".augerino-tmp-9-123"]  // an earlier version's, recent: left
        for name in made { try FileManager.default.createDirectory(at: folder.appendingPathComponent(name), withIntermediateDirectories: false) }
        let name = try there.publish(base: "r", job: 3, reserve: { _ in }) { temporary in
            try Data("{}".utf8).write(to: temporary.appendingPathComponent("job.json"))
            here.removeLeftovers()  // host-a starts while host-b fills job 3's result
            try Data("weights".utf8).write(to: temporary.appendingPathComponent("model.safetensors"))
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent(name).path).sorted(), ["job.json", "model.safetensors"])
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: folder.path)), Set(["r"] + made.dropFirst()))
        // A day later, what no process of this host left goes too; a live one's stays.
        here.removeLeftovers(now: Date() + 2 * Outbox.foreignLeftoverAge)
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: folder.path)), ["r", ".augerino-tmp-1-7@host-a"])
        XCTAssertEqual(Outbox.owner(ofTemporary: ".augerino-tmp-12-withdrawn-ab@x@y")?.pid, 12)
        XCTAssertEqual(Outbox.owner(ofTemporary: ".augerino-tmp-12-withdrawn-ab@x@y")?.host, "x@y")
        XCTAssertNil(Outbox.owner(ofTemporary: ".augerino-tmp-withdrawn-12-ab"))
    }

    func test_withdraw_removesOnlyThatJobsFailure_andIngestErrorsOnlyForThatInboxFile() throws {
        let folder = try makeScratchFolder("outbox")
        defer { try? FileManager.default.removeItem(at: folder) }
        let outbox = Outbox(folder)
        func publish(_ base: String, job: Int64, result: String) throws -> String {
            try outbox.publish(base: base, job: job, reserve: { _ in }) { temporary in
                try Data("{\"id\": \(job), \"result\": \"\(result)\"}".utf8).write(to: temporary.appendingPathComponent("job.json"))
            }
        }
        func ingestError(_ base: String, inboxFile: String, problem: String) throws -> String {
            try outbox.publish(base: base, job: 0, reserve: { _ in }) { temporary in
                let report: [String: Any] = ["schema": "augerino.error/1", "stage": "ingest", "inbox_file": inboxFile, "problem": problem]
                try JSONSerialization.data(withJSONObject: report).write(to: temporary.appendingPathComponent("error.json"))
            }
        }
        XCTAssertEqual(try publish("a", job: 1, result: "done"), "a")
        XCTAssertEqual(try publish("a", job: 2, result: "failed"), "a-2")
        XCTAssertFalse(outbox.withdraw("a", job: 1), "a result (done) is never withdrawn")
        XCTAssertFalse(outbox.withdraw("a-2", job: 3), "nor another job's failure")
        XCTAssertTrue(outbox.withdraw("a-2", job: 2))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["a"], "gone whole, no temporary folder left")

        XCTAssertEqual(try ingestError("x", inboxFile: "/in/x.tar.gz", problem: "p1"), "x")
        XCTAssertEqual(try ingestError("x", inboxFile: "/in/other/x.tar.gz", problem: "p1"), "x-2")
        XCTAssertTrue(outbox.hasIngestError(base: "x", inboxFile: "/in/x.tar.gz", problem: "p1"))
        XCTAssertFalse(outbox.hasIngestError(base: "x", inboxFile: "/in/x.tar.gz", problem: "p2"))
        XCTAssertEqual(outbox.withdrawIngestErrors(base: "x", inboxFile: "/in/x.tar.gz"), ["x"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted(), ["a", "x-2"])
        XCTAssertEqual(outbox.entries(named: "x"), ["x-2"])
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("x-two"), withIntermediateDirectories: false)
        XCTAssertEqual(outbox.entries(named: "x"), ["x-2"], "only the names a result for x gets")
    }

    func test_jobName_stripsTheSuffix_andKeepsNamesSafe() {
        XCTAssertEqual(Inbox.jobName(fileName: "rotmnist.tar.gz"), "rotmnist")
        XCTAssertEqual(Inbox.jobName(fileName: "My Data (v2).TGZ"), "My_Data__v2_")
        XCTAssertEqual(Inbox.jobName(fileName: "..tar.gz"), "bundle")
        XCTAssertTrue(Inbox.ignores(".hidden") && Inbox.ignores("upload.part") && Inbox.ignores("x.tmp"))
        XCTAssertFalse(Inbox.ignores("data.tar.gz"))
    }
}
