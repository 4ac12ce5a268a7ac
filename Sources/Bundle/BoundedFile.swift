import Foundation

/// Reading a whole data file of a bundle, with its size checked against a cap before anything
/// is allocated for it (and through plain read(2), whose errors are sentences of their own).
public enum BoundedFile {
    /// The bytes of `url`, at most `limit` of them.
    /// - Throws: `BundleError.unreadable` naming the file and the reason, or `.data` when it
    ///   is larger than `limit` (naming the rule `limitRule`).
    public static func read(_ url: URL, limit: Int, limitRule: String = "member size cap") throws -> Data {
        let (fd, size) = try openRegularFile(url)
        defer { close(fd) }
        guard size <= limit else {
            throw BundleError.data(file: url.path, rule: "it holds \(size) bytes, more than \(limit) (rule: \(limitRule))")
        }
        var data = Data(count: size)
        let filled = try data.withUnsafeMutableBytes { try readFully(fd, into: $0, file: url.path) }
        return filled == data.count ? data : data.prefix(filled)
    }

    /// Opens `url` for reading; the caller closes the descriptor. Non-blocking, so a FIFO in a
    /// dataset folder is refused instead of waiting for a writer (reads of a regular file are
    /// not affected).
    /// - Returns: the descriptor and the file's size.
    /// - Throws: `BundleError.unreadable` naming the file and the reason (it is not a regular
    ///   file, say).
    static func openRegularFile(_ url: URL) throws -> (descriptor: Int32, size: Int) {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw BundleError.unreadable(file: url.path, reason: String(cString: strerror(errno))) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw BundleError.unreadable(file: url.path, reason: "it is not a regular file")
        }
        return (fd, Int(info.st_size))
    }

    /// Reads from `fd` until `buffer` is full or the file ends.
    /// - Returns: the bytes read (fewer than `buffer.count` only at the end of the file).
    /// - Throws: `BundleError.unreadable` naming `file` and the reason.
    static func readFully(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, file: String) throws -> Int {
        var filled = 0
        while filled < buffer.count {
            let n = Glibc.read(fd, buffer.baseAddress! + filled, buffer.count - filled)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw BundleError.unreadable(file: file, reason: String(cString: strerror(errno))) }
            if n == 0 { break }
            filled += n
        }
        return filled
    }
}
