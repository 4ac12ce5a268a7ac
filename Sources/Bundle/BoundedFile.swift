import Foundation

/// Reading a whole data file of a bundle, with its size checked against a cap before anything
/// is allocated for it (and through plain read(2), whose errors are sentences of their own).
public enum BoundedFile {
    /// The bytes of `url`, at most `limit` of them.
    /// - Throws: `BundleError.unreadable` naming the file and the reason, or `.data` when it
    ///   is larger than `limit` (naming the rule `limitRule`).
    public static func read(_ url: URL, limit: Int, limitRule: String = "member size cap") throws -> Data {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BundleError.unreadable(file: url.path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw BundleError.unreadable(file: url.path, reason: String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw BundleError.unreadable(file: url.path, reason: "it is not a regular file") }
        guard Int(info.st_size) <= limit else {
            throw BundleError.data(file: url.path, rule: "it holds \(info.st_size) bytes, more than \(limit) (rule: \(limitRule))")
        }
        var data = Data(count: Int(info.st_size))
        var filled = 0
        try data.withUnsafeMutableBytes { raw in
            while filled < raw.count {
                let n = Glibc.read(fd, raw.baseAddress! + filled, raw.count - filled)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { throw BundleError.unreadable(file: url.path, reason: String(cString: strerror(errno))) }
                if n == 0 { break }
                filled += n
            }
        }
        return filled == data.count ? data : data.prefix(filled)
    }
}
