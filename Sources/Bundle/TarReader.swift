import Foundation

/// A streaming reader of POSIX tar (ustar, GNU long names, pax extended headers): headers and
/// data come from `read` (any byte stream, such as a `GzipReader`) in 512-byte blocks, so a
/// member's data can be written out as it arrives and memory stays bounded. Strict: header
/// checksums, sizes within the stream, the two-block end marker and only zeros after it, UTF-8
/// names, a cap on members; extended headers larger than 1 MiB are refused.
public final class TarReader {
    /// One member's header: its path (after long-name and pax records), kind and data size.
    public struct Entry: Equatable {
        public var path: String
        public var kind: TarMember.Kind
        public var size: Int
    }

    private let file: String
    private let maxMembers: Int
    private let source: (UnsafeMutableRawBufferPointer) throws -> Int
    private var members = 0
    /// Data bytes (with padding to the block) of the current member not yet read.
    private var pendingData = 0
    private var pendingPadding = 0
    private var current = ""
    static let maxExtendedHeader = 1 << 20
    static let maxPadding = 1 << 20
    /// Extended headers (pax, GNU long names) before one member, and their bytes in one archive:
    /// they are not members, so the member cap does not count them.
    static let maxExtendedHeadersPerMember = 8
    static let maxExtendedHeaderBytes = 32 << 20
    /// No member is larger (a size field near the integer maximum would overflow the arithmetic
    /// of skipping it; every real cap is far below).
    static let maxSize = 1 << 50
    /// Member paths: at most PATH_MAX bytes, each component at most NAME_MAX bytes, checked on
    /// the bytes before any text processing (a name of a million combining marks costs time
    /// quadratic in its length when compared or hashed as a String).
    static let maxPathBytes = 4096, maxComponentBytes = 255
    private var extendedHeaderBytes = 0

    /// - Parameter read: fills the buffer with up to its size of the next bytes, 0 at the end.
    public init(file: String, maxMembers: Int = 200_000, read: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) {
        (self.file, self.maxMembers, source) = (file, maxMembers, read)
    }

    private func fail(_ member: String, _ rule: String) -> BundleError { .archive(file: file, member: member, rule: rule) }

    /// Reads exactly buffer.count bytes unless the stream ends; returns how many.
    private func fill(_ buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var filled = 0
        while filled < buffer.count {
            let n = try source(UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if n == 0 { break }
            filled += n
        }
        return filled
    }

    /// Skips `count` bytes; false when the stream ends first.
    private func skip(_ count: Int) throws -> Bool {
        var left = count
        var scratch = [UInt8](repeating: 0, count: 1 << 16)
        while left > 0 {
            let want = min(left, scratch.count)
            let n = try scratch.withUnsafeMutableBytes { try fill(UnsafeMutableRawBufferPointer(rebasing: $0[0..<want])) }
            if n < want { return false }
            left -= n
        }
        return true
    }

    /// Reads a whole small payload (an extended header) into memory.
    private func payload(_ size: Int, _ member: String) throws -> Data {
        guard size <= Self.maxExtendedHeader else { throw fail(member, "an extended header of \(size) bytes is larger than 1 MiB") }
        var bytes = [UInt8](repeating: 0, count: size)
        let n = try bytes.withUnsafeMutableBytes { try fill($0) }
        guard n == size, try skip((512 - size % 512) % 512) else { throw fail(member, "its \(size) bytes run past the end of the archive; it is truncated") }
        return Data(bytes)
    }

    /// The next member, or nil after the end marker. Data of the previous member that was not
    /// read is skipped.
    /// - Throws: `BundleError.archive` naming the member and the rule.
    public func next() throws -> Entry? {
        if pendingData + pendingPadding > 0 {
            guard try skip(pendingData + pendingPadding) else { throw fail(current, "its data run past the end of the archive; it is truncated") }
            (pendingData, pendingPadding) = (0, 0)
        }
        var longName: String? = nil
        var pax: [String: String] = [:]
        var header = [UInt8](repeating: 0, count: 512)
        var extendedHeaders = 0
        while true {
            let n = try header.withUnsafeMutableBytes { try fill($0) }
            guard n == 512 else { throw fail("(end)", "the archive ends without the tar end marker (two zero blocks); it is truncated") }
            if header.allSatisfy({ $0 == 0 }) {
                let second = try header.withUnsafeMutableBytes { try fill($0) }
                guard second == 512, header.allSatisfy({ $0 == 0 }) else {
                    throw fail("(end)", "the archive ends with one zero block instead of the two of the end marker")
                }
                // Anything after the end marker must be zero padding (tar pads to its record size,
                // 10 KiB by default), and not much of it: a stream of zeros is not read to its end.
                var rest = [UInt8](repeating: 0, count: 1 << 16)
                var padding = 0
                while true {
                    let m = try rest.withUnsafeMutableBytes { try fill($0) }
                    guard rest[0..<m].allSatisfy({ $0 == 0 }) else { throw fail("(end)", "there are data after the tar end marker") }
                    padding += m
                    guard padding <= Self.maxPadding else { throw fail("(end)", "more than 1 MiB of padding follows the tar end marker") }
                    if m < rest.count { return nil }
                }
            }
            let rawName = Tar.string(header, 0, 100)
            guard let stored = Tar.octal(header, 148, 8) else { throw fail(rawName, "the header checksum field is not a number") }
            let computed = header.enumerated().reduce(0) { $0 + (148..<156 ~= $1.offset ? 32 : Int($1.element)) }
            guard stored == computed else { throw fail(rawName, "the header checksum is wrong (stored \(stored), computed \(computed)); the archive is corrupt") }
            guard var size = Tar.octal(header, 124, 12) ?? Tar.base256(header, 124, 12) else { throw fail(rawName, "the size field is not a number") }
            if let paxSize = pax["size"] {
                guard let value = Int(paxSize), value >= 0 else { throw fail(rawName, "the pax size \"\(paxSize)\" is not a number") }
                size = value
            }
            guard size >= 0 else { throw fail(rawName, "the size field is negative") }
            guard size <= Self.maxSize else { throw fail(rawName, "the size field declares \(size) bytes, more than any member may hold (rule: size)") }
            let type = header[156]
            if type == UInt8(ascii: "L") || type == UInt8(ascii: "x") || type == UInt8(ascii: "g") {
                extendedHeaders += 1
                extendedHeaderBytes += size
                guard extendedHeaders <= Self.maxExtendedHeadersPerMember else {
                    throw fail(rawName, "more than \(Self.maxExtendedHeadersPerMember) extended headers come before one member (rule: extended header cap)")
                }
                guard extendedHeaderBytes <= Self.maxExtendedHeaderBytes else {
                    throw fail(rawName, "the extended headers hold more than \(Self.maxExtendedHeaderBytes) bytes in all (rule: extended header cap)")
                }
            }
            switch type {
            case UInt8(ascii: "L"):  // GNU: the next member's long name
                guard size <= Self.maxPathBytes + 1 else { throw fail(rawName, "a long name of \(size) bytes is longer than \(Self.maxPathBytes) (rule: name length)") }
                longName = try Tar.utf8(payload(size, rawName).prefix { $0 != 0 }, rawName, fail)
                continue
            case UInt8(ascii: "x"):  // pax: records for the next member
                pax = try Tar.paxRecords(payload(size, rawName), rawName, fail)
                if let path = pax["path"], path.utf8.count > Self.maxPathBytes {
                    throw fail(String(path.prefix(100)) + "…", "the pax path has \(path.utf8.count) bytes, more than \(Self.maxPathBytes) (rule: name length)")
                }
                continue
            case UInt8(ascii: "g"):  // pax global header: nothing here depends on it
                _ = try payload(size, rawName)
                continue
            default:
                break
            }
            var path: String
            if let name = pax["path"] {
                path = name
            } else if let name = longName {
                path = name
            } else {
                let prefix = header[257..<262] == [UInt8]("ustar".utf8)[...] ? Tar.string(header, 345, 155) : ""
                let name = try Tar.utf8(Data(header[0..<100].prefix { $0 != 0 }), rawName, fail)
                path = prefix.isEmpty ? name : prefix + "/" + name
            }
            let kind: TarMember.Kind
            switch type {
            case 0, UInt8(ascii: "0"), UInt8(ascii: "7"): kind = .file
            case UInt8(ascii: "5"): kind = .directory
            case UInt8(ascii: "2"): kind = .symbolicLink
            case UInt8(ascii: "1"): kind = .hardLink
            case UInt8(ascii: "3"), UInt8(ascii: "4"): kind = .device
            case UInt8(ascii: "6"): kind = .fifo
            default: kind = .other(type)
            }
            if let rule = Self.nameRule(path) { throw fail(String(decoding: path.utf8.prefix(200), as: UTF8.self) + "…", rule) }
            members += 1
            guard members <= maxMembers else { throw fail(path, "the archive has more than \(maxMembers) members (rule: member count cap)") }
            current = path
            (pendingData, pendingPadding) = (size, (512 - size % 512) % 512)
            return Entry(path: path, kind: kind, size: size)
        }
    }

    /// The rule a member path breaks by its length, or nil: counted in bytes, before any
    /// comparison of Characters.
    static func nameRule(_ path: String) -> String? {
        let utf8 = path.utf8
        guard utf8.count <= maxPathBytes else { return "the path has \(utf8.count) bytes, more than \(maxPathBytes) (rule: name length)" }
        var component = 0
        for byte in utf8 {
            component = byte == UInt8(ascii: "/") ? 0 : component + 1
            if component > maxComponentBytes { return "a part of the path is longer than \(maxComponentBytes) bytes (rule: name length)" }
        }
        return nil
    }

    /// Streams the current member's data to `body` in pieces of at most 64 KiB.
    /// - Throws: `BundleError.archive` when the archive ends inside the data, or what `body` throws.
    public func readData(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while pendingData > 0 {
            let want = min(pendingData, buffer.count)
            let n = try buffer.withUnsafeMutableBytes { try fill(UnsafeMutableRawBufferPointer(rebasing: $0[0..<want])) }
            guard n == want else { throw fail(current, "its data run past the end of the archive; it is truncated") }
            pendingData -= n
            try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        guard try skip(pendingPadding) else { throw fail(current, "its data run past the end of the archive; it is truncated") }
        pendingPadding = 0
    }
}
