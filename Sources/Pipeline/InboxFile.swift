import Bundle
import Foundation

/// A file in the inbox, opened through one descriptor and never by its path again.
///
/// The inbox is writable by every user allowed to drop bundles, so its entries are hostile:
/// the name may be swapped for a symbolic link, a FIFO or another file at any moment. Opening
/// is `openat` on the inbox folder with `O_NOFOLLOW | O_NONBLOCK` (a link is refused by the
/// kernel, a FIFO does not block), and every check is made on the descriptor (`fstat`): a
/// regular file, one link, not larger than a bundle may be. Its bytes are copied into the
/// daemon's own spool file while they are hashed (`copy(into:name:)`), so the hash is the
/// hash of what is trained and later writes cannot reach the copy.
///
/// Whether a writer still has the file open: when the daemon may take a read lease on it (it
/// owns the file, or has CAP_LEASE), the kernel says so (`F_SETLEASE` fails while anyone has it
/// open for writing, and a writer who opens it during the copy breaks the lease); otherwise the
/// inbox relies on inotify and the settle time, and on the file's size and times staying the
/// same from before the copy to after it.
struct InboxFile {
    /// Which file: device and inode, with the size and modification time when it was taken
    /// (so an inode number reused by a later file is not taken for the same file).
    struct Identity: Equatable {
        let device: UInt64, inode: UInt64

        init(_ info: stat) { (device, inode) = (UInt64(info.st_dev), UInt64(info.st_ino)) }

        func text(_ snapshot: Snapshot) -> String {
            "\(device):\(inode):\(snapshot.size):\(snapshot.modified.tv_sec).\(snapshot.modified.tv_nsec)"
        }
    }

    /// What changes when anyone writes the file: size, modification and change times.
    struct Snapshot: Equatable {
        let size: Int64
        let modified: timespec, changed: timespec

        init(_ info: stat) { (size, modified, changed) = (Int64(info.st_size), info.st_mtim, info.st_ctim) }

        static func == (a: Snapshot, b: Snapshot) -> Bool {
            a.size == b.size && a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec
                && a.changed.tv_sec == b.changed.tv_sec && a.changed.tv_nsec == b.changed.tv_nsec
        }
    }

    /// Why an entry was not opened.
    enum Refusal: Error, Equatable {
        /// It is gone, or changed kind between the look and the open (a race): look again later.
        case vanished
        /// Not a regular file: a symbolic link, FIFO, socket, device or folder.
        case notARegularFile(kind: String)
        /// The daemon's user may not read it.
        case unreadable(reason: String)
        /// More than one name links to it (a hard link may point at a file the dropping user
        /// could not read).
        case hardLinked(links: Int)
        /// Larger than any valid bundle may be.
        case tooLarge(size: Int64, cap: Int64)
        /// Someone has it open for writing (the lease says so), or it changed during the copy.
        case stillBeingWritten
        /// Opening failed for a reason of the machine's (too many open files, I/O error).
        case system(step: String, errno: Int32)

        /// The kind of problem, without its details: an ingest error.json is written once per kind.
        var kind: String {
            switch self {
            case .vanished: return "vanished"
            case .notARegularFile(let kind): return "not a regular file: \(kind)"
            case .unreadable: return "unreadable"
            case .hardLinked: return "hard links"
            case .tooLarge: return "too large"
            case .stillBeingWritten: return "being written"
            case .system: return "system"
            }
        }
    }

    let descriptor: Int32
    let identity: Identity
    private(set) var snapshot: Snapshot
    /// Whether a read lease is held (`releaseLease()` gives it back).
    private(set) var leased = false

    /// The kind of a file for messages, from its mode.
    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: return "a regular file"
        case S_IFLNK: return "a symbolic link"
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        case S_IFCHR, S_IFBLK: return "a device"
        case S_IFDIR: return "a folder"
        default: return "not a regular file"
        }
    }

    /// Opens `name` in the inbox folder `folder` (a descriptor) and checks it.
    /// - Parameter maxSize: the largest file a bundle may be.
    static func open(_ name: String, in folder: Int32, maxSize: Int64) -> Result<InboxFile, Refusal> {
        let fd = openat(folder, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else {
            switch errno {
            case ENOENT, ELOOP, ENOTDIR, ENXIO: return .failure(.vanished)  // gone, or swapped for a link or socket: look again
            case EACCES, EPERM: return .failure(.unreadable(reason: String(cString: strerror(errno))))
            default: return .failure(.system(step: "opening", errno: errno))
            }
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            Glibc.close(fd)
            return .failure(.system(step: "reading the status of", errno: code))
        }
        let file = InboxFile(descriptor: fd, identity: Identity(info), snapshot: Snapshot(info))
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            Glibc.close(fd)
            return .failure(.vanished)  // the name now holds something else; the next look reports it
        }
        guard info.st_nlink == 1 else {
            Glibc.close(fd)
            return .failure(.hardLinked(links: Int(info.st_nlink)))
        }
        guard file.snapshot.size <= maxSize else {
            Glibc.close(fd)
            return .failure(.tooLarge(size: file.snapshot.size, cap: maxSize))
        }
        return .success(file)
    }

    /// Takes a read lease when the kernel allows this process one. Returns false when someone
    /// has the file open for writing (it is still being written); true otherwise, with or
    /// without a lease (leases need ownership or CAP_LEASE, and a local file system).
    mutating func leaseIfAllowed() -> Bool {
        _ = Self.leaseBreaksIgnored
        if fcntl(descriptor, Self.setLease, Self.readLease) == 0 {
            leased = true
            return true
        }
        return errno != EAGAIN && errno != EBUSY
    }

    /// Whether a writer opened the file since the lease was taken (the kernel then starts
    /// breaking the lease, and reports the type it is being broken to).
    var leaseBroken: Bool { leased && fcntl(descriptor, Self.getLease) != Self.readLease }

    mutating func releaseLease() {
        if leased { _ = fcntl(descriptor, Self.setLease, Self.unlock) }
        leased = false
    }

    /// The file's size and times now; nil if the descriptor cannot be read.
    func current() -> Snapshot? {
        var info = stat()
        return fstat(descriptor, &info) == 0 ? Snapshot(info) : nil
    }

    /// Notes the file's size and times as they are now (after the inbox removed its name,
    /// which changes the change time), as the point later writes are measured from.
    mutating func resnapshot() { if let now = current() { snapshot = now } }

    func close() { _ = Glibc.close(descriptor) }

    /// What a copy left in the spool.
    struct Copy {
        /// The copy, a hidden name in the spool (`StateDirectory.incomingPrefix`) until renamed.
        let path: String
        let sha256: String
        let bytes: Int64
        /// The file as it was copied.
        let snapshot: Snapshot
    }

    /// Why a copy failed.
    enum CopyFailure: Error {
        /// The file changed during the copy, or a writer broke the lease: it is being written.
        case changed
        /// Reading the inbox file failed.
        case reading(errno: Int32)
        /// The spool could not be written (full, read-only): the machine's fault.
        case spool(PipelineError)
        /// The daemon is stopping; the file stays in the inbox for the next start.
        case stopped
    }

    /// Copies the file's bytes, from its start, into a new 0600 file `name` in `spool` while
    /// hashing them, then fsyncs it. The copy is exactly the `snapshot.size` bytes there were
    /// when the file was looked at; if the file changed meanwhile (size or times), or a writer
    /// broke the lease, the copy is removed and `.changed` thrown. `stopping` is asked after
    /// every MiB: when it says yes, the copy is removed and `.stopped` thrown.
    func copy(into spool: URL, name: String, stopping: () -> Bool = { false }) throws(CopyFailure) -> Copy {
        let target = spool.appendingPathComponent(name).path
        let output = Glibc.open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw .spool(.io(target, "creating the spool copy")) }
        var keep = false
        defer {
            Glibc.close(output)
            if !keep { unlink(target) }
        }
        guard let before = current() else { throw .reading(errno: errno) }
        guard before == snapshot, !leaseBroken else { throw .changed }
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset: Int64 = 0
        while offset < before.size {
            let wanted = Int(min(Int64(buffer.count), before.size - offset))
            let n = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, wanted, off_t(offset)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .reading(errno: errno)
            }
            if n == 0 { throw .changed }  // shorter than it was: truncated meanwhile
            hasher.update(buffer[0..<n])
            var written = 0
            while written < n {
                let m = buffer.withUnsafeBytes { write(output, $0.baseAddress! + written, n - written) }
                if m < 0 {
                    if errno == EINTR { continue }
                    throw .spool(.io(target, "writing the spool copy"))
                }
                written += m
            }
            offset += Int64(n)
            if leaseBroken { throw .changed }
            if stopping() { throw .stopped }
        }
        guard fsync(output) == 0 else { throw .spool(.io(target, "syncing the spool copy")) }
        guard let after = current() else { throw .reading(errno: errno) }
        guard after == before, !leaseBroken else { throw .changed }
        keep = true
        return Copy(path: target, sha256: hasher.finalize(), bytes: offset, snapshot: before)
    }

    /// A writer opening a leased file makes the kernel send SIGIO, whose default action ends
    /// the process; the inbox polls `leaseBroken` instead, so the signal is ignored (once,
    /// before the first lease).
    private static let leaseBreaksIgnored: Void = { signal(SIGIO, SIG_IGN) }()

    // fcntl's lease commands (Linux; not exported by Glibc's Swift module).
    private static let setLease: Int32 = 1024, getLease: Int32 = 1025
    private static let readLease = Int32(F_RDLCK), unlock = Int32(F_UNLCK)
}
