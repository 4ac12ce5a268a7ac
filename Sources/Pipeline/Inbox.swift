import Foundation
import Logging

/// The inbox: takes complete files into the state folder's spool and the queue. A file is
/// taken when inotify reports it closed after writing or moved in, or when a scan finds it
/// unchanged for `settleTime` seconds (it arrived while the daemon was down, or an event was
/// missed). Dot-files and partial uploads (`*.part`, `*.tmp`) are left alone.
///
/// Taking a file: rename into spool/ (copy, fsync and unlink across file systems), fsync the
/// spool, hash, and enqueue. A crash between the rename and the enqueue leaves a spool file
/// no job names; `adoptOrphans()` enqueues it at the next start. When the state folder cannot
/// be written, the file stays in the inbox and is taken by a later scan: nothing is lost.
public final class Inbox: @unchecked Sendable {
    public let folder: URL
    let state: StateDirectory
    let queue: JobQueue
    let logger: Logger
    let settleTime: Double
    /// Called after each new job is queued (to wake the workers).
    let onEnqueued: @Sendable () -> Void
    private var counter = 0
    /// Files already reported as unreadable, so a scan does not repeat itself every time.
    private var reported: Set<String> = []
    /// Serialises taking files: inotify events and scans never race for one file.
    let serial = DispatchQueue(label: "augerino.inbox")

    public init(folder: URL, state: StateDirectory, queue: JobQueue, logger: Logger, settleTime: Double, onEnqueued: @escaping @Sendable () -> Void) {
        (self.folder, self.state, self.queue, self.logger, self.settleTime, self.onEnqueued) = (folder, state, queue, logger, settleTime, onEnqueued)
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

    /// Takes one file from the inbox. `announced`: inotify said it is complete.
    func take(_ fileName: String, announced: Bool) {
        guard !Self.ignores(fileName) else { return }
        let source = folder.appendingPathComponent(fileName).path
        var info = stat()
        guard lstat(source, &info) == 0 else { return }  // already taken, or gone
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            if reported.insert(fileName).inserted {
                logger.warning("\(source): not a regular file (a folder, link or device); only bundle files are taken: leaving it in the inbox")
            }
            return
        }
        if !announced {
            let modified = Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
            if Date().timeIntervalSince1970 - modified < settleTime { return }  // still being written, perhaps; a later scan takes it
        }
        counter += 1
        // The original name, made safe and short enough for NAME_MAX with the prefix.
        let spoolName = "\(Int64(Date().timeIntervalSince1970 * 1000))-\(getpid())-\(counter)--\(Self.safeName(fileName))"
        let target = state.spool.appendingPathComponent(spoolName).path
        do {
            try moveFile(source, to: target)
            try syncFolder(state.spool)
            reported.remove(fileName)
        } catch {
            if reported.insert(fileName).inserted {
                logger.error("cannot take \(source) into the spool: \(error); it stays in the inbox and is taken once the state folder is writable")
            }
            return
        }
        enqueue(spoolPath: target, fileName: fileName)
    }

    /// Hashes a spool file and records it as a job; on failure it stays in the spool, where
    /// `adoptOrphans()` finds it again.
    private func enqueue(spoolPath: String, fileName: String) {
        do {
            let hash = try SHA256.hash(file: spoolPath)
            let job = try queue.enqueue(name: Self.jobName(fileName: fileName), fileName: fileName, bundlePath: spoolPath, sha256: hash, now: Date())
            if let original = job.duplicateOf {
                logger.info("job \(job.id): \(fileName) has the same content as job \(original) (sha256 \(hash.prefix(12))…); its result will point there")
            } else {
                logger.info("job \(job.id): queued \(fileName) (sha256 \(hash.prefix(12))…)")
            }
            onEnqueued()
        } catch {
            logger.error("cannot queue \(spoolPath): \(error); it stays in the spool and is queued at the next scan")
        }
    }

    /// Takes every complete file now in the inbox and queues spool files no job names.
    public func scan() {
        adoptOrphans()
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else {
            logger.error("\(folder.path): cannot list the inbox; create it or fix `inbox =` in daemon.conf")
            return
        }
        for name in names.sorted() { take(name, announced: false) }
    }

    /// Queues spool files that no job names (a crash came between the move and the enqueue).
    func adoptOrphans() {
        guard let known = try? queue.bundlePaths(),
              let names = try? FileManager.default.contentsOfDirectory(atPath: state.spool.path) else { return }
        for name in names.sorted() where !name.hasSuffix(".part") {
            let path = state.spool.appendingPathComponent(name).path
            if !known.contains(path) {
                logger.notice("\(path): in the spool but in no job (the daemon stopped while taking it); queueing it now")
                enqueue(spoolPath: path, fileName: Self.originalName(spoolName: name))
            }
        }
    }
}
