import Foundation
import Glibc
import Logging
import ServiceLifecycle

/// Watches the inbox: inotify read through a Dispatch source (close-write and moved-to take a
/// file; create and modify mark it as being written; attribute changes retry a file that
/// could not be read); the watch is added before the first scan, so nothing that arrives
/// during start-up is missed; a periodic rescan is the safety net (a lost watch is added again
/// there). Every second the files taken within `rewrite_window` are looked at again; every
/// minute the housekeeping runs.
public struct InboxService: Service {
    let inbox: Inbox
    let housekeeping: Housekeeping
    let rescanInterval: Double
    let logger: Logger

    init(inbox: Inbox, housekeeping: Housekeeping, rescanInterval: Double, logger: Logger) {
        (self.inbox, self.housekeeping, self.rescanInterval, self.logger) = (inbox, housekeeping, rescanInterval, logger)
    }

    public func run() async throws {
        let watch = InotifyWatch(inbox: inbox, logger: logger)
        try watch.start()
        let timers = [
            repeating(every: rescanInterval) { [inbox] in
                watch.ensureWatching()
                inbox.scan()
            },
            repeating(every: 1) { [inbox] in inbox.checkHeldFiles() },
            repeating(every: 60, startingNow: true) { [housekeeping] in housekeeping.run() },
        ]
        inbox.serial.async { [inbox] in inbox.scan() }
        try? await gracefulShutdown()
        inbox.stop()
        for timer in timers { timer.cancel() }
        watch.stop()
        // Let a copy in progress notice the stop (within one MiB) and remove its partial file.
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in inbox.serial.async { done.resume() } }
    }

    private func repeating(every interval: Double, startingNow: Bool = false, _ body: @escaping @Sendable () -> Void) -> DispatchSourceTimer {
        let timer = DispatchSource.makeTimerSource(queue: inbox.serial)
        timer.schedule(deadline: .now() + (startingNow ? 0 : interval), repeating: interval)
        timer.setEventHandler(handler: body)
        timer.resume()
        return timer
    }
}

/// One inotify descriptor with a watch on the inbox, read by a Dispatch source on the inbox's
/// serial queue. `@unchecked` because its state is confined: `start` sets it up before the
/// source runs, then only the inbox's queue touches it (asserted in `drain` and
/// `ensureWatching`); `stop` only cancels the source.
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
        let events = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_MODIFY | IN_ATTRIB | IN_MOVED_FROM | IN_DELETE
        watch = inotify_add_watch(fd, inbox.folder.path, UInt32(events) | UInt32(IN_ONLYDIR) | UInt32(IN_EXCL_UNLINK))
        guard watch >= 0 else { throw PipelineError.io(inbox.folder.path, "watching the inbox with inotify") }
        inbox.forgetWriters()
    }

    /// Adds the watch again when it was lost (the inbox was removed and made anew). Runs on
    /// the inbox's queue.
    func ensureWatching() {
        dispatchPrecondition(condition: .onQueue(inbox.serial))
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
        dispatchPrecondition(condition: .onQueue(inbox.serial))
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
                func has(_ flag: Int32) -> Bool { mask & UInt32(flag) != 0 }
                if has(IN_Q_OVERFLOW) {
                    logger.warning("inotify queue overflowed; scanning the inbox")
                    inbox.forgetWriters()
                    inbox.scan()
                } else if has(IN_IGNORED) {
                    logger.warning("\(inbox.folder.path): the inbox's watch was removed (folder deleted?); the rescan adds it again")
                    watch = -1
                } else if let name = String(validating: nameBytes, as: UTF8.self) {
                    if has(IN_ISDIR) {
                        if has(IN_CREATE) || has(IN_MOVED_TO) { inbox.take(name, announced: false) }  // reported once as not a file
                    } else if has(IN_CLOSE_WRITE) || has(IN_MOVED_TO) {
                        inbox.noteComplete(name)
                        inbox.take(name, announced: true)
                    } else if has(IN_CREATE) || has(IN_MODIFY) {
                        inbox.noteWriting(name)
                    } else if has(IN_MOVED_FROM) || has(IN_DELETE) {
                        inbox.noteGone(name)
                    } else if has(IN_ATTRIB) {
                        inbox.take(name, announced: false)
                    }
                } else {
                    logger.warning("\(inbox.folder.path): a file name that is not UTF-8 arrived; rename it to UTF-8 to have it taken")
                }
            }
        }
    }
}
