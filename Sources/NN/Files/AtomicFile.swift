import Foundation

/// Writing a file so that a reader sees either the old file or the whole new one, and the new
/// one survives a crash once `write` returns: a temporary file in the same folder, fsync, rename
/// over the target, fsync of the folder (a rename is atomic but not durable until its folder is
/// synced).
public enum AtomicFile {
    /// - Throws: `NNError.io` naming the file and the failing step.
    public static func write(_ data: Data, to url: URL) throws {
        let folder = url.deletingLastPathComponent()
        let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        func fail(_ step: String) -> NNError { .io(file: url.path, reason: "\(step) failed: \(String(cString: strerror(errno)))") }
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw fail("creating \(temporary.lastPathComponent)") }
        var written = 0
        let ok = data.withUnsafeBytes { bytes -> Bool in
            while written < bytes.count {
                let n = Foundation.write(fd, bytes.baseAddress! + written, bytes.count - written)
                if n < 0 { if errno == EINTR { continue }; return false }
                written += n
            }
            return true
        }
        guard ok, fsync(fd) == 0 else {
            let error = fail("writing")
            close(fd)
            unlink(temporary.path)
            throw error
        }
        close(fd)
        guard rename(temporary.path, url.path) == 0 else {
            let error = fail("renaming into place")
            unlink(temporary.path)
            throw error
        }
        let dir = open(folder.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            defer { close(dir) }
            guard fsync(dir) == 0 else { throw fail("syncing the folder") }
        }
    }
}
