import Foundation
import Logging
import Bundle
@testable import Pipeline
import TestSupport
import XCTest

/// User-supplied text on its way to a log line, STATUS= or a terminal: control characters escaped.
final class DisplayTextTests: XCTestCase {
    func test_escaping_showsControlsAsEscapes_andLeavesOtherTextAlone() {
        XCTAssertEqual("plain name-1.tar.gz".escapingControlCharacters, "plain name-1.tar.gz")
        XCTAssertEqual("ünïcødé ✓ 数据".escapingControlCharacters, "ünïcødé ✓ 数据")
        XCTAssertEqual("a\nb\rc\td\0e".escapingControlCharacters, "a\\nb\\rc\\td\\0e")
        XCTAssertEqual("\u{1b}[31mred\u{7}\u{7f}\u{85}".escapingControlCharacters, "\\u{1b}[31mred\\u{7}\\u{7f}\\u{85}")
        XCTAssertEqual("txt.exe\u{202e}gz.tar".escapingControlCharacters, "txt.exe\\u{202e}gz.tar", "a right-to-left override cannot make a name read backwards")
        XCTAssertEqual("line\u{2028}break".escapingControlCharacters, "line\\u{2028}break")
    }

    /// Collects what reaches it.
    final class Collected: @unchecked Sendable {
        var lines: [String] = []
    }

    struct Collecting: LogHandler {
        let collected: Collected
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? { get { metadata[key] } set { metadata[key] = newValue } }
        func log(event: LogEvent) {
            collected.lines.append(event.message.description + (event.metadata.map { " \($0)" } ?? ""))
        }
    }

    func test_logHandler_keepsAForgedNameOnOneLine() {
        let collected = Collected()
        let logger = Logger(label: "test") { _ in EscapingLogHandler(Collecting(collected: collected)) }
        logger.info("job 1: queued evil\nERROR forged\u{1b}[2J", metadata: ["file": "x\ny"])
        XCTAssertEqual(collected.lines, [#"job 1: queued evil\nERROR forged\u{1b}[2J ["file": x\ny]"#])
    }

    func test_systemdStatus_isOneLine() {
        XCTAssertEqual(SystemdNotifier.statusLine("job 1 (a\nREADY=1): epoch 1"), "job 1 (a\\nREADY=1): epoch 1")
    }

    func test_lockHolder_isReadEvenWhenTheHolderWritesItsPidLate() throws {
        let root = try makeScratchFolder("lock")
        defer { try? FileManager.default.removeItem(at: root) }
        let state = StateDirectory(root)
        let path = state.lockPath
        let fd = open(path, O_RDWR | O_CREAT, 0o644)
        defer { close(fd) }
        let line = Array("\(getpid())\n".utf8)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.2) { _ = pwrite(fd, line, line.count, 0) }
        let reader = open(path, O_RDONLY)
        defer { close(reader) }
        XCTAssertEqual(StateDirectory.holderPid(reader), getpid(), "an empty file is read again until the pid is there")
        // A pid of a process that is gone (the daemon before) is not believed.
        let stale = Array("999999999\n".utf8)
        XCTAssertEqual(pwrite(fd, stale, stale.count, 0), stale.count)
        XCTAssertEqual(ftruncate(fd, off_t(stale.count)), 0)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.2) {
            _ = pwrite(fd, line, line.count, 0)
            _ = ftruncate(fd, off_t(line.count))
        }
        XCTAssertEqual(StateDirectory.holderPid(reader), getpid())
    }
}
