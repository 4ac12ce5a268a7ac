import Foundation
import Glibc
import Logging
import ServiceLifecycle

/// Watches the inbox: inotify (close-write and moved-to) read through a Dispatch source; the
/// watch is added before the first scan, so nothing that arrives during start-up is missed;
/// a periodic rescan is the safety net (a lost watch is added again there).
public struct InboxService: Service {
    let inbox: Inbox
    let rescanInterval: Double
    let logger: Logger

    public init(inbox: Inbox, rescanInterval: Double, logger: Logger) {
        (self.inbox, self.rescanInterval, self.logger) = (inbox, rescanInterval, logger)
    }

    public func run() async throws {
        let watch = InotifyWatch(inbox: inbox, logger: logger)
        try watch.start()
        let timer = DispatchSource.makeTimerSource(queue: inbox.serial)
        timer.schedule(deadline: .now() + rescanInterval, repeating: rescanInterval)
        timer.setEventHandler { [inbox] in
            watch.ensureWatching()
            inbox.scan()
        }
        timer.resume()
        inbox.serial.async { [inbox] in inbox.scan() }
        try? await gracefulShutdown()
        timer.cancel()
        watch.stop()
    }
}

/// One inotify descriptor with a watch on the inbox, read by a Dispatch source on the inbox's
/// serial queue.
final class InotifyWatch: @unchecked Sendable {
    let inbox: Inbox
    let logger: Logger
    private var fd: Int32 = -1
    private var watch: Int32 = -1
    private var source: DispatchSourceRead?

    init(inbox: Inbox, logger: Logger) { (self.inbox, self.logger) = (inbox, logger) }

    func start() throws {
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw PipelineError.io(inbox.folder.path, "starting inotify") }
        try addWatch()
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: inbox.serial)
        source.setEventHandler { [weak self] in self?.drain() }
        let descriptor = fd
        source.setCancelHandler { close(descriptor) }
        source.resume()
        self.source = source
    }

    private func addWatch() throws {
        watch = inotify_add_watch(fd, inbox.folder.path, UInt32(IN_CLOSE_WRITE | IN_MOVED_TO))
        guard watch >= 0 else { throw PipelineError.io(inbox.folder.path, "watching the inbox with inotify") }
    }

    /// Adds the watch again when it was lost (the inbox was removed and made anew). Runs on
    /// the inbox's queue.
    func ensureWatching() {
        guard watch < 0 else { return }
        do {
            try addWatch()
            logger.notice("\(inbox.folder.path): watching the inbox again")
        } catch {
            logger.error("\(error)")
        }
    }

    func stop() { source?.cancel() }

    /// Reads every pending event; runs on the inbox's queue.
    private func drain() {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        let header = MemoryLayout<inotify_event>.size
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return  // EAGAIN: drained
            }
            var offset = 0
            while offset + header <= count {
                let (mask, nameLength) = buffer.withUnsafeBytes { raw -> (UInt32, Int) in
                    let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                    return (event.mask, Int(event.len))
                }
                let nameBytes = buffer[(offset + header)..<min(count, offset + header + nameLength)].prefix { $0 != 0 }
                offset += header + nameLength
                if mask & UInt32(IN_Q_OVERFLOW) != 0 {
                    logger.warning("inotify queue overflowed; scanning the inbox")
                    inbox.scan()
                } else if mask & UInt32(IN_IGNORED) != 0 {
                    logger.warning("\(inbox.folder.path): the inbox's watch was removed (folder deleted?); the rescan adds it again")
                    watch = -1
                } else if let name = String(validating: nameBytes, as: UTF8.self) {
                    inbox.take(name, announced: true)
                } else {
                    logger.warning("\(inbox.folder.path): a file name that is not UTF-8 arrived; rename it to UTF-8 to have it taken")
                }
            }
        }
    }
}
