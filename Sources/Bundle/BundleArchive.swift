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
/// folder. Opening it checks every rule before anything is written: no absolute paths, no ".."
/// components, no links, devices or FIFOs, no duplicate names, names in UTF-8, and the caps of
/// `BundleLimits` (decompression stops as soon as a cap is passed). Files are written only into
/// a fresh folder, which is removed again if anything fails.
public enum BundleArchive {
    /// Extracts `bundle` into `destination` (which must not exist) and returns the folder that
    /// holds manifest.json. Errors call the bundle `displayName` (default: its file name).
    /// - Throws: `BundleError` naming the bundle, the member and the rule.
    public static func extract(_ bundle: URL, into destination: URL, limits: BundleLimits = BundleLimits(), displayName: String? = nil) throws -> URL {
        let name = displayName ?? bundle.lastPathComponent
        let compressed: Data
        do { compressed = try Data(contentsOf: bundle) } catch {
            throw BundleError.unreadable(file: bundle.path, reason: error.localizedDescription)
        }
        let ratioLimit = compressed.count.multipliedReportingOverflow(by: limits.maxCompressionRatio)
        let byRatio = ratioLimit.overflow ? Int.max : ratioLimit.partialValue
        let byTotal = limits.maxTotalBytes + (limits.maxMembers + 2) * 1024
        let archive = try Gzip.decompress(compressed, file: name, limit: min(byRatio, byTotal),
                                          limitRule: byRatio < byTotal ? "\(limits.maxCompressionRatio) times its compressed size (rule: compression ratio cap)"
                                                                       : "the \(limits.maxTotalBytes)-byte total (rule: total size cap)")
        let members = try Tar.read(archive, file: name, maxMembers: limits.maxMembers)
        var files: [(path: String, data: Data)] = [], folders: Set<String> = [], seen: Set<String> = []
        var total = 0
        for member in members {
            func fail(_ rule: String) -> BundleError { .archive(file: name, member: member.path, rule: rule) }
            let path = try safePath(member.path, fail)
            guard seen.insert(path).inserted else { throw fail("the name appears twice (rule: no duplicate names)") }
            switch member.kind {
            case .file:
                guard member.data.count <= limits.maxMemberBytes else { throw fail("it holds \(member.data.count) bytes, more than \(limits.maxMemberBytes) (rule: member size cap)") }
                total += member.data.count
                guard total <= limits.maxTotalBytes else { throw fail("the members so far hold more than \(limits.maxTotalBytes) bytes (rule: total size cap)") }
                files.append((path, member.data))
            case .directory: folders.insert(path)
            case .symbolicLink, .hardLink: throw fail("it is a link (rule: no symbolic or hard links)")
            case .device, .fifo: throw fail("it is a device or FIFO (rule: regular files and folders only)")
            case .other(let type): throw fail("it has tar type '\(Character(UnicodeScalar(type)))' (rule: regular files and folders only)")
            }
        }
        let fileNames = Set(files.map(\.path))
        let root: String
        if fileNames.contains("manifest.json") {
            root = ""
        } else {
            let tops = Set(files.map { String($0.path.split(separator: "/")[0]) })
            guard tops.count == 1, let top = tops.first, fileNames.contains(top + "/manifest.json") else {
                throw BundleError.archive(file: name, member: "manifest.json", rule: "there is no manifest.json at the root or inside one top-level folder")
            }
            root = top
        }
        let manager = FileManager.default
        do {
            try manager.createDirectory(at: destination, withIntermediateDirectories: false)
        } catch {
            throw BundleError.storage(path: destination.path, reason: "cannot create the extraction folder (it must not exist yet): \(error.localizedDescription)")
        }
        do {
            for folder in folders.sorted() { try manager.createDirectory(at: destination.appendingPathComponent(folder), withIntermediateDirectories: true) }
            for (path, data) in files {
                let target = destination.appendingPathComponent(path)
                try manager.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                try data.write(to: target, options: .withoutOverwriting)
            }
        } catch {
            try? manager.removeItem(at: destination)
            throw BundleError.storage(path: destination.path, reason: "extracting \(name) failed: \(error.localizedDescription)")
        }
        return root.isEmpty ? destination : destination.appendingPathComponent(root)
    }

    /// Packs every regular file under `folder` (paths relative to it, sorted) as a bundle,
    /// with the folder's manifest.json or, for a recognised layout, one written by
    /// `Manifest.recognise`.
    /// - Throws: `BundleError` when the folder has no manifest.json and no recognised layout, or
    ///   cannot be read.
    public static func pack(_ folder: URL, to bundle: URL) throws {
        let manager = FileManager.default
        var extra: [(path: String, data: Data)] = []
        if !manager.fileExists(atPath: folder.appendingPathComponent("manifest.json").path) {
            guard let manifest = Manifest.recognise(folder) else {
                throw BundleError.unreadable(file: folder.path, reason: "no manifest.json, and the layout is neither MNIST-style IDX files (train-images…, train-labels…) nor class folders of PNGs (train/<class>/*.png); write a manifest (docs/bundle-format.md)")
            }
            extra.append(("manifest.json", manifest.encoded()))
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
        try Gzip.compress(Tar.write(files)).write(to: bundle, options: .atomic)
    }

    /// A member path checked and normalised: relative, no "..", no empty name; "./" dropped.
    private static func safePath(_ raw: String, _ fail: (String) -> BundleError) throws -> String {
        guard !raw.hasPrefix("/") else { throw fail("path is absolute (rule: relative paths only)") }
        guard !raw.contains("\0") else { throw fail("path contains a NUL byte") }
        let parts = raw.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        guard !parts.contains("..") else { throw fail("path leaves the bundle (rule: no \"..\" components)") }
        guard !parts.isEmpty else { throw fail("path is empty") }
        return parts.joined(separator: "/")
    }
}
