import Bundle
import Foundation
import Synchronization

/// systemd's notification protocol without libsystemd: one datagram per message to the Unix
/// socket in $NOTIFY_SOCKET (a leading '@' names an abstract socket). READY=1 after start-up,
/// STATUS= with the current job, WATCHDOG=1 at half the interval systemd asks for in
/// $WATCHDOG_USEC, STOPPING=1 at a graceful stop. Without $NOTIFY_SOCKET every call does nothing.
public final class SystemdNotifier: Sendable {
    private let address: String?
    private let fd: Int32
    /// Seconds between watchdog pings (half of WatchdogSec), when systemd asked for them.
    public let watchdogInterval: Double?
    /// What the last messages said, behind one lock.
    private struct Sent {
        var lastPing = 0.0
        var lastStatus = ""
        var workerLines: [Int: String] = [:]
        var idleText = "idle"
    }
    private let sent = Mutex(Sent())
    /// What STATUS= says when every worker is idle.
    public var idleStatus: String {
        get { sent.withLock { $0.idleText } }
        set { sent.withLock { $0.idleText = newValue } }
    }

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        address = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        fd = address == nil ? -1 : socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        let forThisProcess = environment["WATCHDOG_PID"].map { Int32($0) == getpid() } ?? true
        watchdogInterval = environment["WATCHDOG_USEC"].flatMap(Double.init).flatMap { forThisProcess && $0 > 0 ? $0 / 2e6 : nil }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Sends one message (`KEY=value` lines) without ever blocking (a busy or stuck receiver
    /// drops it); errors are ignored, as systemd's own client does.
    public func send(_ message: String) {
        guard let address, fd >= 0 else { return }
        var target = sockaddr_un()
        target.sun_family = sa_family_t(AF_UNIX)
        var path = Array(address.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: target.sun_path)
        guard path.count < capacity else { return }
        withUnsafeMutableBytes(of: &target.sun_path) { raw in
            for (i, byte) in path.enumerated() { raw[i] = byte }
        }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + path.count + (path.first == 0 ? 0 : 1))
        let bytes = Array(message.utf8)
        _ = withUnsafePointer(to: &target) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT), $0, length) }
        }
    }

    /// A STATUS= value on one line: a newline in a job's name would otherwise start a line of
    /// its own in the datagram (`READY=1`, `MAINPID=…`), a message systemd would believe.
    static func statusLine(_ text: String) -> String { text.escapingControlCharacters }

    public func ready(status: String) { send("READY=1\nSTATUS=\(Self.statusLine(status))") }
    public func stopping() { send("STOPPING=1\nSTATUS=stopping") }

    /// STATUS=, sent only when it changed.
    public func status(_ text: String) {
        let changed = sent.withLock { sent -> Bool in
            defer { sent.lastStatus = text }
            return text != sent.lastStatus
        }
        if changed { send("STATUS=\(Self.statusLine(text))") }
    }

    /// One worker's part of STATUS= (nil: idle); the message joins every busy worker's line,
    /// or says `idleStatus` when none is busy.
    public func worker(_ index: Int, status line: String?) {
        let text = sent.withLock { sent -> String in
            sent.workerLines[index] = line
            let busy = sent.workerLines.keys.sorted().compactMap { sent.workerLines[$0] }
            return busy.isEmpty ? sent.idleText : busy.joined(separator: "; ")
        }
        status(text)
    }

    /// WATCHDOG=1, at most once per `watchdogInterval`: call it from anything that shows progress.
    public func watchdog() {
        guard let interval = watchdogInterval else { return }
        let now = Date().timeIntervalSince1970
        let due = sent.withLock { sent -> Bool in
            guard now - sent.lastPing >= interval else { return false }
            sent.lastPing = now
            return true
        }
        if due { send("WATCHDOG=1") }
    }
}
