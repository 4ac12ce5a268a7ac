import Foundation

/// The daemon's own folder (`state =` in daemon.conf):
///
///     queue.sqlite (+ -wal, -shm)   the job queue
///     daemon.lock                   held (flock) by the running daemon; holds its pid
///     spool/                        accepted bundles waiting or training
///     quarantine/                   bundles that failed or were cancelled
///     work/<job>.<generation>/      a claim's extracted bundle (recreated on every attempt)
///     checkpoints/<job>.<gen>.checkpoint  a claim's last finished epoch (a job resumes from
///                                   its newest generation's)
///     finished/<job>/               a job's result until it is published (a publish that
///                                   failed for the machine's sake is retried from it)
///
/// With `shared_state =` (many hosts on one PostgreSQL queue) the folders every host must
/// reach live there instead: `SHARED/spool/<host name>/` (each host copies into its own, so a
/// host that starts never mistakes another's copy in progress for its own leftover),
/// `SHARED/quarantine/`, `SHARED/checkpoints/` and `SHARED/finished/`; the lock, the work
/// folders (and an unused SQLite queue) stay in the host's own state folder.
public struct StateDirectory: Sendable {
    public let root: URL
    /// Where the folders every host reaches live: `root` itself unless `shared_state` is set.
    public let shared: URL
    /// This host's spool: `shared/spool/<host>` with a shared state folder, else `root/spool`.
    public let spool: URL

    public init(_ root: URL, shared: URL? = nil, host: String = LeaseHolder.machineHostName) {
        self.root = root
        self.shared = shared ?? root
        spool = shared == nil ? root.appendingPathComponent("spool") : self.shared.appendingPathComponent("spool").appendingPathComponent(host)
    }

    public var queuePath: String { root.appendingPathComponent("queue.sqlite").path }
    public var lockPath: String { root.appendingPathComponent("daemon.lock").path }
    /// Every host's spool (with a shared state folder, the parent of each host's own).
    public var spools: URL { shared.appendingPathComponent("spool") }
    public var quarantine: URL { shared.appendingPathComponent("quarantine") }
    public var work: URL { root.appendingPathComponent("work") }
    public var checkpoints: URL { shared.appendingPathComponent("checkpoints") }
    public var finished: URL { shared.appendingPathComponent("finished") }

    /// Whether `path` is a bundle in a spool (this host's or, with a shared state folder,
    /// another's): the daemon's own copy, which it moves and removes.
    public func isInSpool(_ path: String) -> Bool { path.hasPrefix(spools.path + "/") }

    /// A claim's own work folder: a worker that lost its lease never shares one with the job's next holder.
    public func workFolder(_ claim: JobClaim) -> URL { work.appendingPathComponent("\(claim.id).\(claim.generation)") }
    /// The checkpoint a claim writes: `<job>.<generation>.checkpoint`.
    public func checkpoint(_ claim: JobClaim) -> URL { checkpoints.appendingPathComponent("\(claim.id).\(claim.generation).checkpoint") }

    /// Every checkpoint file of `job`, newest generation first (a file of a version before
    /// generations, `<job>.checkpoint`, counts as the oldest).
    public func checkpoints(job: Int64) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: checkpoints.path)) ?? []
        let prefix = "\(job).", suffix = ".checkpoint"
        let generations = names.compactMap { name -> (Int64, String)? in
            guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
            let middle = name.dropFirst(prefix.count).dropLast(suffix.count)
            if middle.isEmpty { return (-1, name) }  // "<job>.checkpoint"
            return Int64(middle).map { ($0, name) }
        }
        return generations.sorted { $0.0 > $1.0 }.map { checkpoints.appendingPathComponent($0.1) }
    }
    public func finishedResult(job: Int64) -> URL { finished.appendingPathComponent(String(job)) }

    /// Creates the folders that are missing. The root stays readable (`augerino status` and
    /// `jobs` may run as other users); the folders holding users' bundles and their unpacked
    /// data are the daemon's alone (0700), whatever mode they were made with before.
    /// - Throws: `PipelineError.io` naming the folder.
    public func create() throws {
        try createFolder(root)
        if shared != root { try createFolder(shared) }
        for folder in [spools, spool, quarantine, work, checkpoints, finished] {
            try createFolder(folder, mode: 0o700)
            _ = chmod(folder.path, 0o700)
        }
    }

    /// Opens the queue in this folder.
    public func openQueue() throws -> SQLiteJobQueue { try SQLiteJobQueue(path: queuePath) }

    /// The prefix of a spool file still being copied in from the inbox.
    static let incomingPrefix = ".incoming-"

    /// Removes copies from the inbox that a crash or a stop interrupted (`spool/.incoming-*`);
    /// their inbox files are still in the inbox and are taken again. Call with the lock held.
    /// Returns the names removed.
    @discardableResult
    public func removeInterruptedCopies() -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: spool.path) else { return [] }
        return names.filter { $0.hasPrefix(Self.incomingPrefix) && unlink(spool.appendingPathComponent($0).path) == 0 }
    }

    /// Takes the daemon lock, so that two daemons never share a state folder. The lock lasts
    /// as long as the returned descriptor is open (the process's life). The file holds the
    /// holder's pid, written in one piece over the old text and then cut to length, so that a
    /// reader never sees it empty once the holder has written it.
    /// - Throws: `PipelineError.stateLocked` with the holder's pid.
    public func lock() throws -> Int32 {
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw PipelineError.io(lockPath, "opening the lock file") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = Self.holderPid(fd).map(String.init) ?? "unknown: it has not written its pid within 2 s"
            close(fd)
            throw PipelineError.stateLocked(path: root.path, pid: holder)
        }
        let line = Array("\(getpid())\n".utf8)
        guard pwrite(fd, line, line.count, 0) == line.count, ftruncate(fd, off_t(line.count)) == 0 else {
            let failure = PipelineError.io(lockPath, "writing the daemon's pid")
            close(fd)
            throw failure
        }
        return fd
    }

    /// The pid of the daemon holding the lock, or nil when no daemon runs on this folder
    /// (-1 when one does but its pid could not be read).
    public func runningDaemon() -> Int32? {
        let fd = open(lockPath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return nil
        }
        return Self.holderPid(fd) ?? -1
    }

    /// The pid of the process holding the lock on `fd`'s file. The kernel's table of locks
    /// (/proc/locks) names it exactly; where that cannot be read, the pid the holder wrote into
    /// the file is taken once that process is alive (a holder that has just taken the lock may
    /// not have written its pid yet, and the file may still name the daemon before it, so an
    /// empty, partial or stale pid is read again for up to 2 s).
    static func holderPid(_ fd: Int32) -> Int32? {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        for _ in 0..<100 {
            if let pid = lockTableHolder(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)) { return pid }
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buffer, buffer.count, 0)
            if n > 0, let line = String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).first,
               let pid = Int32(line), pid > 0, n > line.utf8.count, kill(pid, 0) == 0 || errno == EPERM {
                return pid
            }
            usleep(20_000)
        }
        return nil
    }

    /// The pid /proc/locks gives for an exclusive flock on the file (device, inode), if any.
    static func lockTableHolder(device: UInt64, inode: UInt64) -> Int32? {
        guard let table = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) else { return nil }
        // Linux's encoding of a device number: 12 bits of major, 20 of minor, split.
        let major = ((device >> 8) & 0xfff) | ((device >> 32) & ~UInt64(0xfff))
        let minor = (device & 0xff) | ((device >> 12) & ~UInt64(0xff))
        let file = String(format: "%02llx:%02llx:%llu", major, minor, inode)
        for line in table.split(separator: "\n") {
            // "1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234 0 EOF" ("->" marks a waiting request)
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1] == "FLOCK", fields[3] == "WRITE", fields[5] == file, let pid = Int32(fields[4]) else { continue }
            return pid
        }
        return nil
    }
}

/// Creates `folder` (with `mode`) and its parents (0755) when missing.
func createFolder(_ folder: URL, mode: mode_t = 0o755) throws {
    var isFolder: ObjCBool = false
    if FileManager.default.fileExists(atPath: folder.path, isDirectory: &isFolder) {
        guard isFolder.boolValue else { throw PipelineError.io(path: folder.path, step: "using as a folder", reason: "it is a file", errno: ENOTDIR) }
        return
    }
    let parent = folder.deletingLastPathComponent()
    if parent.path != folder.path, !FileManager.default.fileExists(atPath: parent.path) { try createFolder(parent) }
    guard mkdir(folder.path, mode) == 0 || errno == EEXIST else { throw PipelineError.io(folder.path, "creating the folder") }
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
