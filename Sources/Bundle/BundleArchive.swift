import Foundation

/// Caps that keep an untrusted bundle from exhausting memory or disk (docs/bundle-format.md).
public struct BundleLimits: Sendable, Equatable {
    public var maxMembers = 200_000
    public var maxMemberBytes = 2 << 30
    public var maxTotalBytes = 4 << 30
    /// Uncompressed bytes per compressed byte; gzip of real data rarely passes 20.
    public var maxCompressionRatio = 200

    public init() {}
}

/// A bundle: a gzip-compressed tar with manifest.json at its root or inside one top-level
/// folder. Opening it streams (memory stays bounded) and checks every member before writing it:
/// no absolute paths, no ".." components, no links, devices or FIFOs, no duplicate names, names
/// in UTF-8, and the caps of `BundleLimits` (decompression stops as soon as a cap is passed).
/// Files are written only into a fresh folder, which is removed again if anything fails.
public enum BundleArchive {
    /// Extracts `bundle` into `destination` (which must not exist) and returns the folder that
    /// holds manifest.json. Errors call the bundle `displayName` (default: its file name).
    ///
    /// Streams: compressed bytes are read 64 KiB at a time, inflated and untarred on the fly,
    /// and each member's data written as it arrives, so memory stays bounded (about 1 MiB)
    /// whatever the bundle holds, and a cap stops the work the moment it is passed.
    /// - Throws: `BundleError` naming the bundle, the member and the rule (`.storage` when the
    ///   destination cannot be written).
    public static func extract(_ bundle: URL, into destination: URL, limits: BundleLimits = BundleLimits(), displayName: String? = nil) throws -> URL {
        let name = displayName ?? bundle.lastPathComponent
        let fd = open(bundle.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BundleError.unreadable(file: bundle.path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw BundleError.unreadable(file: bundle.path, reason: String(cString: strerror(errno))) }
        let ratioLimit = Int(info.st_size).multipliedReportingOverflow(by: limits.maxCompressionRatio)
        let byRatio = ratioLimit.overflow ? Int.max : ratioLimit.partialValue
        let byTotal = limits.maxTotalBytes + (limits.maxMembers + 2) * 1024
        let gzip = try GzipReader(descriptor: fd, name: name, limit: min(byRatio, byTotal),
                                  limitRule: byRatio < byTotal ? "\(limits.maxCompressionRatio) times its compressed size (rule: compression ratio cap)"
                                                               : "the \(limits.maxTotalBytes)-byte total (rule: total size cap)")
        let tar = TarReader(file: name, maxMembers: limits.maxMembers) { try gzip.read(into: $0) }
        guard mkdir(destination.path, 0o755) == 0 else {
            throw BundleError.storage(path: destination.path, reason: "cannot create the extraction folder (it must not exist yet): \(String(cString: strerror(errno)))")
        }
        do {
            // Names are kept as bytes: the file system compares bytes, and comparing or hashing
            // long Strings of combining marks costs time quadratic in their length.
            var fileNames: Set<[UInt8]> = [], seen: Set<[UInt8]> = []
            var total = 0
            while let member = try tar.next() {
                func fail(_ rule: String) -> BundleError { .archive(file: name, member: member.path, rule: rule) }
                let path = try safePath(member.path, fail)
                guard seen.insert(Array(path.utf8)).inserted else { throw fail("the name appears twice (rule: no duplicate names)") }
                switch member.kind {
                case .file:
                    guard member.size <= limits.maxMemberBytes else { throw fail("it holds \(member.size) bytes, more than \(limits.maxMemberBytes) (rule: member size cap)") }
                    total += member.size
                    guard total <= limits.maxTotalBytes else { throw fail("the members so far hold more than \(limits.maxTotalBytes) bytes (rule: total size cap)") }
                    let target = destination.appendingPathComponent(path)
                    try makeFolders(target.deletingLastPathComponent(), under: destination, member: member.path, bundle: name)
                    try writeMember(tar, to: target, member: member.path, bundle: name)
                    fileNames.insert(Array(path.utf8))
                case .directory:
                    try makeFolders(destination.appendingPathComponent(path), under: destination, member: member.path, bundle: name)
                case .symbolicLink, .hardLink: throw fail("it is a link (rule: no symbolic or hard links)")
                case .device, .fifo: throw fail("it is a device or FIFO (rule: regular files and folders only)")
                case .other(let type): throw fail("it has tar type '\(Character(UnicodeScalar(type)))' (rule: regular files and folders only)")
                }
            }
            let manifest = Array("manifest.json".utf8)
            if fileNames.contains(manifest) { return destination }
            let tops = Set(fileNames.map { Array($0.prefix { $0 != UInt8(ascii: "/") }) })
            guard tops.count == 1, let top = tops.first, fileNames.contains(top + [UInt8(ascii: "/")] + manifest) else {
                throw BundleError.archive(file: name, member: "manifest.json", rule: "there is no manifest.json at the root or inside one top-level folder")
            }
            return destination.appendingPathComponent(String(decoding: top, as: UTF8.self))
        } catch {
            try? FileManager.default.removeItem(at: destination)
            throw error
        }
    }

    /// Creates `folder` and its missing parents inside `root` (a member's path is already safe).
    private static func makeFolders(_ folder: URL, under root: URL, member: String, bundle: String) throws {
        let relative = folder.path.dropFirst(root.path.count).split(separator: "/")
        var current = root
        for part in relative {
            current.appendPathComponent(String(part))
            if mkdir(current.path, 0o755) != 0 && errno != EEXIST {
                throw storageOrConflict(errno, current.path, member: member, bundle: bundle)
            }
            var info = stat()
            guard lstat(current.path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
                throw BundleError.archive(file: bundle, member: member, rule: "its folder \"\(part)\" is also a file in the bundle (rule: no duplicate names)")
            }
        }
    }

    /// Writes the current tar member's data into a new file.
    private static func writeMember(_ tar: TarReader, to target: URL, member: String, bundle: String) throws {
        let out = open(target.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard out >= 0 else { throw storageOrConflict(errno, target.path, member: member, bundle: bundle) }
        defer { close(out) }
        try tar.readData { chunk in
            var written = 0
            while written < chunk.count {
                let n = write(out, chunk.baseAddress! + written, chunk.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw BundleError.storage(path: target.path, reason: String(cString: strerror(errno)))
                }
                written += n
            }
        }
    }

    /// A failed create: the bundle's fault when the name is taken (by a member of another
    /// kind), the storage's otherwise (full, read-only, no permission).
    private static func storageOrConflict(_ code: Int32, _ path: String, member: String, bundle: String) -> BundleError {
        switch code {
        case EEXIST, ENOTDIR, EISDIR:
            return .archive(file: bundle, member: member, rule: "it collides with another member of the same name (rule: no duplicate names)")
        case ENAMETOOLONG:
            return .archive(file: bundle, member: member, rule: "its name is longer than this file system allows (rule: name length)")
        default:
            return .storage(path: path, reason: String(cString: strerror(code)))
        }
    }

    /// Packs every regular file under `folder` (paths relative to it, sorted) as a bundle,
    /// with the folder's manifest.json or, for a recognised layout, one written by
    /// `Manifest.recognise`.
    /// - Parameter classes: names for the class indices 0, 1, … of a recognised layout's labels
    ///   (the manifest written records them); a folder with its own manifest.json names its
    ///   classes there.
    /// - Throws: `BundleError` when the folder has no manifest.json and no recognised layout, or
    ///   cannot be read, or `classes` is given for a folder with a manifest.
    public static func pack(_ folder: URL, to bundle: URL, classes: [String]? = nil) throws {
        let manager = FileManager.default
        var extra: [(path: String, data: Data)] = []
        if !manager.fileExists(atPath: folder.appendingPathComponent("manifest.json").path) {
            guard var manifest = Manifest.recognise(folder) else {
                throw BundleError.unreadable(file: folder.path, reason: "no manifest.json, and the layout is neither MNIST-style IDX files (train-images…, train-labels…) nor class folders of PNGs (train/<class>/*.png); write a manifest (docs/bundle-format.md)")
            }
            if let classes { manifest.classes = classes }
            extra.append(("manifest.json", try manifest.encoded()))
        } else if classes != nil {
            throw BundleError.manifest(file: folder.appendingPathComponent("manifest.json").path, key: "classes",
                                       rule: "is where this folder names its classes: --classes is for folders without a manifest")
        }
        guard let enumerator = manager.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey, .isSymbolicLinkKey]) else {
            throw BundleError.unreadable(file: folder.path, reason: "cannot list the folder")
        }
        var files: [(path: String, data: Data)] = []
        let base = folder.standardizedFileURL.path
        for case let url as URL in enumerator {
            let values = try url.resourceValues(forKeys: [.isRegularFileKey, .isSymbolicLinkKey])
            guard values.isRegularFile == true, values.isSymbolicLink != true else { continue }
            let path = String(url.standardizedFileURL.path.dropFirst(base.count + 1))
            files.append((path, try Data(contentsOf: url)))
        }
        files += extra
        files.sort { $0.path < $1.path }
        // Written beside the bundle and renamed into place (Foundation's `.atomic` would leave
        // an empty TemporaryDirectory.* folder in /tmp behind on Linux).
        let temporary = bundle.deletingLastPathComponent().appendingPathComponent(".\(bundle.lastPathComponent).tmp-\(getpid())")
        do {
            try Gzip.compress(Tar.write(files)).write(to: temporary)
            guard rename(temporary.path, bundle.path) == 0 else {
                throw BundleError.storage(path: bundle.path, reason: "cannot rename the finished bundle into place: \(String(cString: strerror(errno)))")
            }
        } catch {
            unlink(temporary.path)
            throw error
        }
    }

    /// A member path checked and normalised: relative, no "..", no empty name, no NUL, within
    /// the name-length caps; "./" dropped. Split on the byte "/" (never on Characters).
    static func safePath(_ raw: String, _ fail: (String) -> BundleError) throws -> String {
        if let rule = TarReader.nameRule(raw) { throw fail(rule) }
        let bytes = Array(raw.utf8)
        guard bytes.first != UInt8(ascii: "/") else { throw fail("path is absolute (rule: relative paths only)") }
        guard !bytes.contains(0) else { throw fail("path contains a NUL byte") }
        let parts = bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true).filter { $0.elementsEqual([UInt8(ascii: ".")]) == false }
        guard !parts.contains(where: { $0.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) }) else { throw fail("path leaves the bundle (rule: no \"..\" components)") }
        guard !parts.isEmpty else { throw fail("path is empty") }
        return String(decoding: Array(parts.joined(separator: [UInt8(ascii: "/")])), as: UTF8.self)
    }
}
