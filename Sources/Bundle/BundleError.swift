import Foundation

/// Errors in a dataset bundle or one of its files. Each description names the file (and the
/// member inside the bundle), the rule broken and what to do.
public enum BundleError: Error, Equatable, CustomStringConvertible {
    /// A gzip stream that is corrupt, truncated, followed by junk, or too large.
    case gzip(file: String, rule: String)
    /// An IDX file whose header or size is wrong.
    case idx(file: String, rule: String)
    /// A file that could not be read.
    case unreadable(file: String, reason: String)
    /// manifest.json breaks a rule; `key` is the dotted path of the offending entry.
    case manifest(file: String, key: String, rule: String)
    /// The data files disagree with the manifest or with each other.
    case data(file: String, rule: String)
    /// A training setting given outside the manifest (a flag, daemon.conf) asks for what this
    /// dataset cannot have; `place` says where, `key` names the setting there.
    case setting(place: String, key: String, rule: String)
    /// The archive, or one of its members, breaks a rule.
    case archive(file: String, member: String, rule: String)
    /// Extracting could not write to the destination (a full disk, a read-only folder): not
    /// the bundle's fault, worth trying again once the storage is fixed.
    case storage(path: String, reason: String)

    /// What is wrong: the file (and member or key) and the rule broken.
    public var problem: String {
        switch self {
        case let .gzip(file, rule): return "\(file): not a valid gzip stream: \(rule)"
        case let .idx(file, rule): return "\(file): not a valid IDX file: \(rule)"
        case let .unreadable(file, reason): return "\(file): cannot be read: \(reason)"
        case let .manifest(file, key, rule): return "\(file): manifest key \"\(key)\" \(rule)"
        case let .data(file, rule): return "\(file): \(rule)"
        case let .setting(place, key, rule): return "\(place): \(key) \(rule)"
        case let .archive(file, member, rule): return "\(file): member \"\(member)\": \(rule)"
        case let .storage(path, reason): return "\(path): cannot write the extracted bundle: \(reason)"
        }
    }

    /// What to do about it, when there is more to say than the problem does.
    public var hint: String? {
        switch self {
        case let .gzip(_, rule):
            return rule.contains("magic bytes")
                ? "it is not gzip-compressed at all: a bundle is a gzip-compressed tar (make one with `augerino bundle pack FOLDER --out NAME.tar.gz`), and a data file is plain or gzip-compressed"
                : "the file is damaged or cut short: compress it again with gzip, or pack the bundle again"
        case .idx: return "IDX is a big-endian magic (0x0000TTDD: type, dimensions), one big-endian UInt32 per dimension, then the data"
        case .unreadable, .data: return nil
        case .manifest: return "see docs/bundle-format.md for every key"
        case .setting: return "see docs/configuration.md for every setting"
        case .archive: return "a bundle is a .tar.gz of regular files and folders (make one with augerino bundle pack)"
        case .storage: return "free space or fix the folder's permissions, then try again"
        }
    }

    public var description: String { problem + (hint.map { "; hint: \($0)" } ?? "") }

    /// The same error with every file path under `folder` named as `name: member` instead
    /// (`bundle.tar.gz: train/images.idx`), so no message shows a staging folder.
    public func naming(folder: String, as name: String) -> BundleError {
        let prefix = folder.hasSuffix("/") ? folder : folder + "/"
        func rename(_ path: String) -> String {
            path == folder ? name : path.hasPrefix(prefix) ? "\(name): " + path.dropFirst(prefix.count) : path
        }
        switch self {
        case let .gzip(file, rule): return .gzip(file: rename(file), rule: rule)
        case let .idx(file, rule): return .idx(file: rename(file), rule: rule)
        case let .unreadable(file, reason): return .unreadable(file: rename(file), reason: reason.replacingOccurrences(of: prefix, with: "\(name): "))
        case let .manifest(file, key, rule): return .manifest(file: rename(file), key: key, rule: rule)
        case let .data(file, rule): return .data(file: rename(file), rule: rule)
        case .archive, .storage, .setting: return self
        }
    }
}

extension BundleError: LocalizedError {
    public var errorDescription: String? { description }
    public var recoverySuggestion: String? { hint }
}
