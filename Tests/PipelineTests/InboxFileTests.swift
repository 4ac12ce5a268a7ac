import Bundle
import Foundation
@testable import Pipeline
import TestSupport
import XCTest

/// Opening inbox entries through one descriptor: what is refused, what a copy holds, and how a
/// writer is noticed (real files, FIFOs, links and leases in a scratch folder).
final class InboxFileTests: XCTestCase {
    var folder: URL!
    var spool: URL!
    var dir: Int32 = -1

    override func setUpWithError() throws {
        folder = try makeScratchFolder("inbox-file")
        spool = folder.appendingPathComponent("spool")
        try FileManager.default.createDirectory(at: spool, withIntermediateDirectories: true)
        dir = open(folder.path, O_RDONLY | O_DIRECTORY)
    }

    override func tearDown() {
        close(dir)
        try? FileManager.default.removeItem(at: folder)
    }

    func write(_ name: String, _ bytes: [UInt8]) throws -> URL {
        let url = folder.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    func opened(_ name: String, maxSize: Int64 = 1 << 30, file: StaticString = #filePath, line: UInt = #line) throws -> InboxFile {
        switch InboxFile.open(name, in: dir, maxSize: maxSize) {
        case .success(let inboxFile): return inboxFile
        case .failure(let refusal):
            XCTFail("\(name) was refused: \(refusal)", file: file, line: line)
            throw refusal
        }
    }

    func refusal(_ name: String, maxSize: Int64 = 1 << 30) -> InboxFile.Refusal? {
        switch InboxFile.open(name, in: dir, maxSize: maxSize) {
        case .success(let inboxFile): inboxFile.close(); return nil
        case .failure(let refusal): return refusal
        }
    }

    func test_open_refusesLinksFIFOsHardLinksAndOversizedFiles_withoutBlockingOrFollowing() throws {
        let secret = try write("secret", Array("private".utf8))
        XCTAssertEqual(symlink(secret.path, folder.appendingPathComponent("link").path), 0)
        XCTAssertEqual(symlink("/dev/zero", folder.appendingPathComponent("zero").path), 0)
        XCTAssertEqual(mkfifo(folder.appendingPathComponent("fifo").path, 0o644), 0)
        XCTAssertEqual(link(secret.path, folder.appendingPathComponent("hard").path), 0)
        _ = try write("big", [UInt8](repeating: 1, count: 100))

        XCTAssertEqual(refusal("link"), .vanished, "a symbolic link is never followed")
        XCTAssertEqual(refusal("zero"), .vanished, "nor one to a device")
        XCTAssertEqual(refusal("fifo"), .vanished, "a FIFO is opened without blocking and refused on its descriptor")
        XCTAssertEqual(refusal("hard"), .hardLinked(links: 2))
        XCTAssertEqual(refusal("big", maxSize: 99), .tooLarge(size: 100, cap: 99))
        XCTAssertNil(refusal("big", maxSize: 100))
        XCTAssertEqual(refusal("missing"), .vanished)
    }

    func test_copy_isTheBytesHashed_inA0600SpoolFile_andLaterWritesDoNotReachIt() throws {
        var random = TestRandom(seed: 1)
        let bytes = (0..<3_000_001).map { _ in UInt8(truncatingIfNeeded: random.next()) }  // a few 1 MiB reads and a tail
        let url = try write("bundle.tar.gz", bytes)
        let inboxFile = try opened("bundle.tar.gz")
        defer { inboxFile.close() }
        let copy = try inboxFile.copy(into: spool, name: ".incoming-test.part")
        var expected = SHA256()
        expected.update(bytes)
        XCTAssertEqual(copy.sha256, expected.finalize())
        XCTAssertEqual(copy.bytes, Int64(bytes.count))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: copy.path)), Data(bytes))
        var info = stat()
        XCTAssertEqual(stat(copy.path, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600, "the spool copy is the daemon's alone")

        // The uploader writes again: the inbox file changes, the copy does not.
        let writer = open(url.path, O_WRONLY)
        XCTAssertEqual(pwrite(writer, "rewritten", 9, 0), 9)
        close(writer)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: copy.path)), Data(bytes))
    }

    func test_copy_whenTheFileChangesAfterItWasLookedAt_isRefused_andLeavesNothing() throws {
        let url = try write("growing.tar.gz", [UInt8](repeating: 7, count: 1000))
        let inboxFile = try opened("growing.tar.gz")
        defer { inboxFile.close() }
        let handle = try FileHandle(forWritingTo: url)
        handle.seekToEndOfFile()
        handle.write(Data([1, 2, 3]))
        try handle.close()
        XCTAssertThrowsError(try inboxFile.copy(into: spool, name: ".incoming-grow.part")) { error in
            guard case .changed? = error as? InboxFile.CopyFailure else { return XCTFail("expected .changed, got \(error)") }
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: spool.path), [], "no partial copy left")
    }

    func test_lease_vetoesAFileOpenForWriting_andAWriterOpeningItBreaksTheLease() throws {
        let url = try write("leased.tar.gz", [UInt8](repeating: 3, count: 100))
        var inboxFile = try opened("leased.tar.gz")
        defer { inboxFile.close() }

        let writer = open(url.path, O_WRONLY)
        XCTAssertFalse(inboxFile.leaseIfAllowed(), "someone has it open for writing: still being written")
        close(writer)
        XCTAssertTrue(inboxFile.leaseIfAllowed())
        guard inboxFile.leased else { throw XCTSkip("this file system or user does not grant read leases; the inbox relies on inotify and the settle time here") }
        XCTAssertFalse(inboxFile.leaseBroken)
        // A writer opening it now starts breaking the lease (O_NONBLOCK: it does not wait for us).
        let late = open(url.path, O_WRONLY | O_NONBLOCK)
        XCTAssertEqual(late, -1)
        XCTAssertEqual(errno, EWOULDBLOCK)
        XCTAssertTrue(inboxFile.leaseBroken, "the kernel reports the break")
        XCTAssertThrowsError(try inboxFile.copy(into: spool, name: ".incoming-lease.part"))
        inboxFile.releaseLease()
        let after = open(url.path, O_WRONLY | O_NONBLOCK)
        XCTAssertGreaterThanOrEqual(after, 0, "released: writers are not held up")
        close(after)
    }
}
