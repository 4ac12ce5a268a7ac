import Foundation

/// The daemon's own folder (`state =` in daemon.conf):
///
///     queue.sqlite (+ -wal, -shm)   the job queue
///     daemon.lock                   held (flock) by the running daemon; holds its pid
///     spool/                        accepted bundles waiting or training
///     quarantine/                   bundles that failed or were cancelled
///     work/<job>/                   a job's extracted bundle (recreated on every attempt)
///     checkpoints/<job>.checkpoint  a job's last finished epoch
public struct StateDirectory: Sendable {
    public let root: URL

    public init(_ root: URL) { self.root = root }

    public var queuePath: String { root.appendingPathComponent("queue.sqlite").path }
    public var lockPath: String { root.appendingPathComponent("daemon.lock").path }
    public var spool: URL { root.appendingPathComponent("spool") }
    public var quarantine: URL { root.appendingPathComponent("quarantine") }
    public var work: URL { root.appendingPathComponent("work") }
    public var checkpoints: URL { root.appendingPathComponent("checkpoints") }

    public func workFolder(job: Int64) -> URL { work.appendingPathComponent(String(job)) }
    public func checkpoint(job: Int64) -> URL { checkpoints.appendingPathComponent("\(job).checkpoint") }

    /// Creates the folders that are missing.
    /// - Throws: `PipelineError.io` naming the folder.
    public func create() throws {
        for folder in [root, spool, quarantine, work, checkpoints] { try createFolder(folder) }
    }

    /// Opens the queue in this folder.
    public func openQueue() throws -> SQLiteJobQueue { try SQLiteJobQueue(path: queuePath) }

    /// Takes the daemon lock, so that two daemons never share a state folder. The lock lasts
    /// as long as the returned descriptor is open (the process's life).
    /// - Throws: `PipelineError.stateLocked` with the holder's pid.
    public func lock() throws -> Int32 {
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw PipelineError.io(lockPath, "opening the lock file") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: lockPath, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            close(fd)
            throw PipelineError.stateLocked(path: root.path, pid: holder)
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
        return fd
    }

    /// The pid of the daemon holding the lock, or nil when no daemon runs on this folder.
    public func runningDaemon() -> Int32? {
        let fd = open(lockPath, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return nil
        }
        let text = (try? String(contentsOfFile: lockPath, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.flatMap { Int32($0) } ?? -1
    }
}

/// Creates `folder` and its parents when missing.
func createFolder(_ folder: URL) throws {
    var isFolder: ObjCBool = false
    if FileManager.default.fileExists(atPath: folder.path, isDirectory: &isFolder) {
        guard isFolder.boolValue else { throw PipelineError.io(path: folder.path, step: "using as a folder", reason: "it is a file", errno: ENOTDIR) }
        return
    }
    let parent = folder.deletingLastPathComponent()
    if parent.path != folder.path, !FileManager.default.fileExists(atPath: parent.path) { try createFolder(parent) }
    guard mkdir(folder.path, 0o755) == 0 || errno == EEXIST else { throw PipelineError.io(folder.path, "creating the folder") }
}

/// fsync of a folder, so that a rename or new file in it survives power loss.
func syncFolder(_ folder: URL) throws {
    let fd = open(folder.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { throw PipelineError.io(folder.path, "opening the folder to sync it") }
    defer { close(fd) }
    guard fsync(fd) == 0 else { throw PipelineError.io(folder.path, "syncing the folder") }
}

/// fsync of a file.
func syncFile(_ path: String) throws {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw PipelineError.io(path, "opening the file to sync it") }
    defer { close(fd) }
    guard fsync(fd) == 0 else { throw PipelineError.io(path, "syncing the file") }
}

/// Moves a file by rename; across file systems, by copy, fsync and unlink.
func moveFile(_ source: String, to target: String) throws {
    if rename(source, target) == 0 { return }
    guard errno == EXDEV else { throw PipelineError.io(source, "moving to \(target)") }
    let temporary = target + ".part"
    do {
        try copyFile(source, to: temporary)
    } catch {
        unlink(temporary)
        throw error
    }
    guard rename(temporary, target) == 0 else { throw PipelineError.io(temporary, "renaming to \(target)") }
    try syncFolder(URL(fileURLWithPath: target).deletingLastPathComponent())
    guard unlink(source) == 0 else { throw PipelineError.io(source, "removing after copying it to \(target)") }
}

/// Copies a file's bytes and fsyncs the copy; errors carry the system's reason (ENOSPC…).
func copyFile(_ source: String, to target: String) throws {
    let input = open(source, O_RDONLY | O_CLOEXEC)
    guard input >= 0 else { throw PipelineError.io(source, "opening to copy") }
    defer { close(input) }
    let output = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard output >= 0 else { throw PipelineError.io(target, "creating the copy of \(source)") }
    defer { close(output) }
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
        if n < 0 { if errno == EINTR { continue }; throw PipelineError.io(source, "reading to copy") }
        if n == 0 { break }
        var written = 0
        while written < n {
            let m = buffer.withUnsafeBytes { write(output, $0.baseAddress! + written, n - written) }
            if m < 0 { if errno == EINTR { continue }; throw PipelineError.io(target, "writing the copy of \(source)") }
            written += m
        }
    }
    guard fsync(output) == 0 else { throw PipelineError.io(target, "syncing the copy of \(source)") }
}
