import Bundle
import Foundation
import Logging
import Synchronization

/// The inbox: takes complete files into the state folder's spool and the queue.
///
/// Taking a file (`take`): open it through one descriptor without following links or blocking
/// (`InboxFile`), check on the descriptor that it is a regular file of one link and of a
/// bundle's size, copy it into a 0600 spool file while hashing the bytes copied, fsync,
/// record the job, and only then remove the inbox entry (if it is still the same file). What
/// is hashed is what is trained; nothing is read by the inbox path again.
///
/// When a file is complete: inotify's close-write or moved-to says so; a file inotify saw
/// created or modified and not yet closed is left alone; a file a scan finds (it came while
/// the daemon was down, or an event was missed) waits until unchanged for `settle_time`. A
/// read lease, where the kernel grants one, vetoes any file still open for writing, and a
/// file whose size or times change during the copy is left for later.
///
/// After a take the inbox keeps the file's descriptor for `rewrite_window` seconds
/// (`HeldFile`): if its writer was not finished after all (a slow writer that paused longer
/// than settle_time) and the file changes, the finished file is taken again once quiet, as a
/// new job that supersedes the first (whose error.json, if it failed as truncated, is
/// withdrawn), so the user sees one result.
///
/// A file that cannot be taken (unreadable, a link, a FIFO, too large) stays in the inbox,
/// gets one log line and one outbox/NAME/error.json (stage "ingest") per problem. Failed
/// bundles and such refusals are rate-limited (`max_failures`, `max_failures_per_name` per
/// `failure_window`): past the limit files wait in the inbox.
///
/// Everything here runs on `serial`: inotify events, scans and the held-file checks never race.
/// That is why it may be `@unchecked Sendable`, and its entry points (`take`, `scan`,
/// `checkHeldFiles`) assert it with `dispatchPrecondition`; `stop` alone comes from elsewhere.
public final class Inbox: @unchecked Sendable {
    public let folder: URL
    let state: StateDirectory
    let queue: JobQueue
    let outbox: Outbox
    let configuration: DaemonConfiguration
    let logger: Logger
    /// Called after each new job is queued (to wake the workers).
    let onEnqueued: @Sendable () -> Void
    /// Serialises everything the inbox does.
    let serial = DispatchQueue(label: "augerino.inbox")

    var counter = 0
    /// Names inotify saw created or written and not yet closed after writing, with when.
    var writing: [String: Date] = [:]
    /// The problems logged for each name, so each is logged (and explained) once.
    var reported: [String: Set<String>] = [:]
    /// When the failure limit last stopped refusals from being explained (one line per window).
    var limitLoggedAt: Date?
    /// Descriptors of files taken within `rewrite_window`.
    var held: [HeldFile] = []
    /// When refusals wrote an ingest error.json, for the overall failure limit.
    var refusalTimes: [Date] = []
    private let stopRequested = Atomic<Bool>(false)

    /// Asks a copy in progress to stop (graceful shutdown): its partial copy is removed and
    /// the file stays in the inbox for the next start.
    public func stop() { stopRequested.store(true, ordering: .releasing) }

    var isStopping: Bool { stopRequested.load(ordering: .acquiring) }

    public init(configuration: DaemonConfiguration, state: StateDirectory, queue: JobQueue, logger: Logger,
                onEnqueued: @escaping @Sendable () -> Void) {
        folder = configuration.inbox
        outbox = configuration.outboxWriter
        (self.configuration, self.state, self.queue, self.logger, self.onEnqueued) = (configuration, state, queue, logger, onEnqueued)
    }

    /// Whether a name in the inbox is never taken: dot-files and partial uploads.
    public static func ignores(_ name: String) -> Bool {
        name.hasPrefix(".") || name.hasSuffix(".part") || name.hasSuffix(".tmp") || name.isEmpty
    }

    /// The outbox name for a bundle file: without .tar.gz / .tgz / .gz, and with anything but
    /// letters, digits, '.', '-' and '_' replaced by '_'.
    public static func jobName(fileName: String) -> String {
        var stem = fileName
        for suffix in [".tar.gz", ".tgz", ".gz", ".tar"] where stem.lowercased().hasSuffix(suffix) {
            stem = String(stem.dropLast(suffix.count))
            break
        }
        return safeName(stem)
    }

    /// A file name with anything but letters, digits, '.', '-' and '_' replaced by '_', at
    /// most 150 characters, not starting with '.'.
    static func safeName(_ name: String) -> String {
        let safe = String(name.unicodeScalars.map { scalar -> Character in
            (scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || "._-".unicodeScalars.contains(scalar))) ? Character(scalar) : "_"
        })
        let trimmed = safe.drop(while: { $0 == "." })
        return trimmed.isEmpty ? "bundle" : String(trimmed.prefix(150))
    }

    /// The original file name inside a spool file name `<time>-<pid>-<n>--<file name>`.
    static func originalName(spoolName: String) -> String {
        guard let range = spoolName.range(of: "--") else { return spoolName }
        return String(spoolName[range.upperBound...])
    }

    /// The largest file a valid bundle can be: its uncompressed cap, tar's headers, and what
    /// gzip adds to data it cannot compress.
    var maxBundleFileSize: Int64 {
        let limits = configuration.bundleLimits
        let uncompressed = Int64(limits.maxTotalBytes) + Int64(limits.maxMembers + 2) * 1024
        return uncompressed + uncompressed / 500 + (1 << 20)
    }

    // MARK: inotify's news

    /// inotify: `name` was created or written to (a writer has it open).
    func noteWriting(_ name: String) {
        guard !Self.ignores(name) else { return }
        if writing.count < 100_000 || writing[name] != nil { writing[name] = Date() }
    }

    /// inotify: `name` was closed after writing, or moved in.
    func noteComplete(_ name: String) { writing[name] = nil }

    /// inotify: `name` left the inbox. (What was reported about it is forgotten by the next
    /// scan, not here: an entry swapped in and out again is not reported again.)
    func noteGone(_ name: String) { writing[name] = nil }

    /// inotify lost events (overflow, or the watch was added again): what it said of writers
    /// is no longer known, so the settle time and the copy checks decide alone.
    func forgetWriters() { writing.removeAll() }

    // MARK: Taking

    /// Takes one file from the inbox. `announced`: inotify said it is complete.
    func take(_ name: String, announced: Bool) {
        dispatchPrecondition(condition: .onQueue(serial))
        guard !Self.ignores(name), !isStopping else { return }
        let inboxPath = folder.appendingPathComponent(name).path
        let dir = open(folder.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else {
            report(name, key: "inbox", level: .error, "\(folder.path): cannot open the inbox (\(String(cString: strerror(errno)))); create it or fix `inbox =` in daemon.conf")
            return
        }
        defer { close(dir) }
        var info = stat()
        guard fstatat(dir, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return }
        let kind = info.st_mode & S_IFMT
        guard kind == S_IFREG else {
            refuse(name, .notARegularFile(kind: InboxFile.kind(info.st_mode)), key: "\(kind):\(info.st_dev):\(info.st_ino)")
            return
        }
        guard info.st_nlink == 1 else {
            refuse(name, .hardLinked(links: Int(info.st_nlink)), key: "links:\(info.st_dev):\(info.st_ino)")
            return
        }
        if !announced {
            if writing[name] != nil { return }  // inotify saw it written and not closed: its writer is not done
            let modified = Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
            if Date().timeIntervalSince1970 - modified < configuration.settleTime { return }  // a later scan looks again
        }
        if let deferral = failureLimit(for: name) {
            report(name, key: "limit", level: .warning, "\(inboxPath.escapingControlCharacters): not taken yet: \(deferral); it stays in the inbox and is taken once the window has room")
            return
        }

        var file: InboxFile
        switch InboxFile.open(name, in: dir, maxSize: maxBundleFileSize) {
        case .success(let opened): file = opened
        case .failure(.vanished), .failure(.stillBeingWritten): return
        case .failure(let refusal):
            refuse(name, refusal, key: "\(refusal):\(info.st_dev):\(info.st_ino):\(info.st_ctim.tv_sec).\(info.st_ctim.tv_nsec)")
            return
        }
        guard file.leaseIfAllowed() else {
            file.close()
            logger.debug("\(inboxPath): open for writing elsewhere; taken once its writer closes it")
            return
        }
        let copy: InboxFile.Copy
        do {
            copy = try file.copy(into: state.spool, name: nextIncomingName(), stopping: { isStopping })
        } catch {
            file.close()
            copyFailed(name, error)
            return
        }
        file.releaseLease()
        let source = file.identity.text(copy.snapshot)
        // A crash after recording the job but before removing the inbox entry: the same file, the same bytes.
        if let earlier = try? queue.job(source: source), earlier.sha256 == copy.sha256 {
            unlink(copy.path)
            logger.notice("\(inboxPath): already taken as job \(earlier.id) (the daemon stopped before removing it from the inbox); removing it now")
            removeEntry(name, in: dir, ifStill: file.identity)
            file.close()
            return
        }
        guard let job = record(copy, fileName: name, source: source, supersedes: nil) else {
            file.close()
            return
        }
        removeEntry(name, in: dir, ifStill: file.identity)
        file.resnapshot()
        hold(HeldFile(file: file, name: name, job: job.id, sha256: copy.sha256))
        withdrawIngestErrors(name)
        reported[name] = nil
        writing[name] = nil
        onEnqueued()
    }

    /// A hidden name in the spool for a copy in progress.
    func nextIncomingName() -> String {
        counter += 1
        return "\(StateDirectory.incomingPrefix)\(getpid())-\(counter).part"
    }

    /// Renames a finished copy into the spool and records its job; nil (with the copy removed
    /// and the reason logged) when that fails, so the inbox file stays and is taken later.
    func record(_ copy: InboxFile.Copy, fileName: String, source: String, supersedes: Int64?) -> Job? {
        counter += 1
        let spoolName = "\(Int64(Date().timeIntervalSince1970 * 1000))-\(getpid())-\(counter)--\(Self.safeName(fileName))"
        let target = state.spool.appendingPathComponent(spoolName).path
        do {
            guard rename(copy.path, target) == 0 else { throw PipelineError.io(copy.path, "renaming to \(target)") }
            try syncFolder(state.spool)
            let job = try queue.enqueue(NewJob(name: Self.jobName(fileName: fileName), fileName: fileName, bundlePath: target,
                                               sha256: copy.sha256, source: source, supersedes: supersedes), now: Date())
            guard job.bundlePath == target else {
                // Another host sharing this inbox took the same file first: its job trains its copy.
                unlink(target)
                logger.info("\(folder.appendingPathComponent(fileName).path.escapingControlCharacters): taken already as job \(job.id) (the inbox is shared, and another host was first)")
                return nil
            }
            if let original = job.duplicateOf {
                logger.info("job \(job.id): \(fileName) has the same content as job \(original) (sha256 \(copy.sha256.prefix(12))…); its result will point there")
            } else {
                logger.info("job \(job.id): queued \(fileName) (\(copy.bytes) bytes, sha256 \(copy.sha256.prefix(12))…)")
            }
            return job
        } catch {
            unlink(copy.path)
            unlink(target)
            report(fileName, key: "record", level: .error, "cannot take \(folder.appendingPathComponent(fileName).path) into the queue: \(error); it stays in the inbox and is taken once the state folder is writable")
            return nil
        }
    }

    func copyFailed(_ name: String, _ error: InboxFile.CopyFailure) {
        let path = folder.appendingPathComponent(name).path
        switch error {
        case .changed:
            logger.debug("\(path): changed while it was copied; taken once its writer is done")
        case .stopped:
            logger.notice("\(path): stopping; its copy into the spool is dropped and it stays in the inbox for the next start")
        case .reading(let code):
            report(name, key: "read:\(code)", level: .error, "\(path): reading it failed (\(String(cString: strerror(code)))); it stays in the inbox and is tried again at the next scan")
        case .spool(let failure):
            report(name, key: "spool", level: .error, "cannot take \(path) into the spool: \(failure); it stays in the inbox and is taken once the state folder is writable")
        }
    }

    /// Removes the inbox entry `name` if it is still the file that was taken. The entry is
    /// first renamed to a private name and checked there, so an entry swapped in at the last
    /// moment (someone else's upload, in an inbox without the sticky bit) is put back under its
    /// name, never removed.
    private func removeEntry(_ name: String, in dir: Int32, ifStill identity: InboxFile.Identity) {
        var info = stat()
        guard fstatat(dir, name, &info, AT_SYMLINK_NOFOLLOW) == 0, InboxFile.Identity(info) == identity else { return }
        counter += 1
        var aside = "\(Self.asidePrefix)\(getpid())-\(counter)-\(UInt32.random(in: 0...UInt32.max))"
        if aside.utf8.count + 2 + name.utf8.count <= 255 { aside += "--" + name }  // the name, for a recovery after a crash
        guard renameat(dir, name, dir, aside) == 0 else {
            if errno != ENOENT {
                report(name, key: "unlink", level: .error, "\(folder.appendingPathComponent(name).path): cannot remove it from the inbox after taking it (\(String(cString: strerror(errno)))); give the daemon's user write access to the inbox")
            }
            return
        }
        if fstatat(dir, aside, &info, AT_SYMLINK_NOFOLLOW) == 0, InboxFile.Identity(info) == identity {
            unlinkat(dir, aside, 0)
            return
        }
        // Not the file taken: it goes back under its own name, or the first free `name.restored-N`.
        for candidate in [name] + (1...100).map({ "\(name).restored-\($0)" }) where Self.renameNoReplace(dir, aside, candidate) {
            logger.warning("\(folder.appendingPathComponent(name).path): another entry was swapped in while the taken file was being removed; it was left in the inbox as \(candidate)")
            return
        }
        logger.error("\(folder.appendingPathComponent(aside).path): an entry swapped in while a taken file was being removed could not be given its name back; it stays under this name")
    }

    /// The hidden names `removeEntry` uses for a moment.
    static let asidePrefix = ".augerino-taken-"

    /// A crash between `removeEntry`'s rename and its unlink leaves an aside entry: the taken
    /// file (a job has its identity) goes; anything else gets its name back.
    func recoverAsideEntry(_ aside: String, in dir: Int32) {
        var info = stat()
        guard fstatat(dir, aside, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return }
        if (info.st_mode & S_IFMT) == S_IFREG,
           let job = try? queue.job(source: InboxFile.Identity(info).text(InboxFile.Snapshot(info))) {
            unlinkat(dir, aside, 0)
            logger.notice("\(folder.appendingPathComponent(aside).path): removed; it is job \(job.id)'s file, left aside by a stop")
            return
        }
        let original = aside.range(of: "--").map { String(aside[$0.upperBound...]) } ?? "restored-\(aside.dropFirst(Self.asidePrefix.count))"
        for candidate in [original] + (1...100).map({ "\(original).restored-\($0)" }) where Self.renameNoReplace(dir, aside, candidate) {
            logger.notice("\(folder.appendingPathComponent(aside).path): given its name back as \(candidate) (left aside by a stop)")
            return
        }
    }

    /// renameat2(RENAME_NOREPLACE), looked up at run time (Glibc's Swift module does not export
    /// it); false when `target` exists or the call failed.
    static func renameNoReplace(_ dir: Int32, _ source: String, _ target: String) -> Bool {
        guard let function = renameAt2 else {
            // Without renameat2: link then unlink never replaces, for anything but a folder.
            guard linkat(dir, source, dir, target, 0) == 0 else { return false }
            unlinkat(dir, source, 0)
            return true
        }
        return function(dir, source, dir, target, 1) == 0
    }

    private static let renameAt2: (@convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32)? =
        dlsym(nil, "renameat2").map { unsafeBitCast($0, to: (@convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32).self) }

    // MARK: Scans

    /// Takes every complete file now in the inbox and queues spool files no job names.
    public func scan() {
        dispatchPrecondition(condition: .onQueue(serial))
        adoptOrphans()
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else {
            report("", key: "list", level: .error, "\(folder.path): cannot list the inbox; create it or fix `inbox =` in daemon.conf")
            return
        }
        let present = Set(names)
        reported = reported.filter { present.contains($0.key) || $0.key.isEmpty }
        writing = writing.filter { present.contains($0.key) }
        let asides = names.filter { $0.hasPrefix(Self.asidePrefix) }
        if !asides.isEmpty {
            let dir = open(folder.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if dir >= 0 {
                for aside in asides { recoverAsideEntry(aside, in: dir) }
                close(dir)
            }
        }
        for name in names.sorted() { take(name, announced: false) }
    }

    /// Queues spool files that no job names (a crash came between the copy's rename into the
    /// spool and the job's record; the job is recorded now, from the daemon's own copy).
    func adoptOrphans() {
        guard let known = try? queue.bundlePaths(),
              let names = try? FileManager.default.contentsOfDirectory(atPath: state.spool.path) else { return }
        for name in names.sorted() where !name.hasPrefix(".") && !name.hasSuffix(".part") {
            let path = state.spool.appendingPathComponent(name).path
            guard !known.contains(path) else { continue }
            logger.notice("\(path): in the spool but in no job (the daemon stopped while taking it); queueing it now")
            do {
                let hash = try SHA256.hash(file: path)
                let fileName = Self.originalName(spoolName: name)
                let job = try queue.enqueue(NewJob(name: Self.jobName(fileName: fileName), fileName: fileName, bundlePath: path, sha256: hash), now: Date())
                logger.info("job \(job.id): queued \(fileName) from the spool (sha256 \(hash.prefix(12))…)")
                onEnqueued()
            } catch {
                report(name, key: "adopt", level: .error, "cannot queue \(path): \(error); it stays in the spool and is queued at the next scan")
            }
        }
    }
}
