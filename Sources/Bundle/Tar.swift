import Foundation

/// One member of a tar archive, as read: its path (after GNU long-name and pax records), its
/// kind, and for regular files the bytes.
public struct TarMember: Equatable {
    public enum Kind: Equatable { case file, directory, symbolicLink, hardLink, device, fifo, other(UInt8) }
    public var path: String
    public var kind: Kind
    public var data: Data
}

/// Reading and writing POSIX tar (ustar, with GNU long names and pax extended headers on
/// reading). Reading is strict: header checksums, sizes within the archive, the two-block end
/// marker, UTF-8 names, and a cap on members.
public enum Tar {
    /// Every member of `archive` in order.
    /// - Throws: `BundleError.archive` naming the member and the rule.
    public static func read(_ archive: Data, file: String, maxMembers: Int = 200_000) throws -> [TarMember] {
        var offset = archive.startIndex
        let reader = TarReader(file: file, maxMembers: maxMembers) { buffer in
            let n = min(buffer.count, archive.endIndex - offset)
            archive.copyBytes(to: buffer.bindMemory(to: UInt8.self), from: offset..<(offset + n))
            offset += n
            return n
        }
        var members: [TarMember] = []
        while let entry = try reader.next() {
            var data = Data()
            if entry.kind == .file { try reader.readData { data.append(contentsOf: $0) } }
            members.append(TarMember(path: entry.path, kind: entry.kind, data: data))
        }
        return members
    }

    /// A ustar archive of `files` (path → bytes), in the given order, with the end marker.
    /// Paths longer than 100 bytes use the ustar prefix field (up to 255 bytes in all).
    public static func write(_ files: [(path: String, data: Data)]) -> Data {
        var archive = Data()
        for (path, data) in files {
            var header = [UInt8](repeating: 0, count: 512)
            let utf8 = Array(path.utf8)
            var name = utf8, prefix: [UInt8] = []
            if utf8.count > 100, let slash = utf8[..<min(utf8.count, 156)].lastIndex(of: UInt8(ascii: "/")), utf8.count - slash - 1 <= 100 {
                prefix = Array(utf8[..<slash])
                name = Array(utf8[(slash + 1)...])
            }
            precondition(name.count <= 100 && prefix.count <= 155, "Tar.write: path too long: \(path)")
            header.replaceSubrange(0..<name.count, with: name)
            put(&header, 100, 8, "0000644")
            put(&header, 108, 8, "0000000")
            put(&header, 116, 8, "0000000")
            put(&header, 124, 12, String(format: "%011o", data.count))
            put(&header, 136, 12, String(format: "%011o", 0))
            header[156] = UInt8(ascii: "0")
            header.replaceSubrange(257..<263, with: Array("ustar\0".utf8))
            header.replaceSubrange(263..<265, with: Array("00".utf8))
            header.replaceSubrange(345..<(345 + prefix.count), with: prefix)
            for i in 148..<156 { header[i] = 32 }
            let checksum = header.reduce(0) { $0 + Int($1) }
            put(&header, 148, 8, String(format: "%06o", checksum) + "\0 ")
            archive.append(contentsOf: header)
            archive.append(data)
            archive.append(Data(count: (512 - data.count % 512) % 512))
        }
        archive.append(Data(count: 1024))
        return archive
    }

    private static func put(_ header: inout [UInt8], _ at: Int, _ length: Int, _ text: String) {
        let bytes = Array(text.utf8.prefix(length))
        header.replaceSubrange(at..<(at + bytes.count), with: bytes)
    }

    static func string(_ bytes: [UInt8], _ at: Int, _ length: Int) -> String {
        String(decoding: bytes[at..<(at + length)].prefix { $0 != 0 }, as: UTF8.self)
    }

    static func octal(_ bytes: [UInt8], _ at: Int, _ length: Int) -> Int? {
        let field = bytes[at..<(at + length)].prefix { $0 != 0 }
        let text = String(decoding: field, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty, text.allSatisfy({ ("0"..."7").contains($0) }) else { return nil }
        return Int(text, radix: 8)
    }

    /// GNU base-256 numbers: the first byte has its high bit set.
    static func base256(_ bytes: [UInt8], _ at: Int, _ length: Int) -> Int? {
        guard bytes[at] & 0x80 != 0, bytes[at] & 0x40 == 0 else { return nil }
        var value = Int(bytes[at] & 0x3F)
        for byte in bytes[(at + 1)..<(at + length)] {
            guard value < (Int.max >> 8) else { return nil }
            value = value << 8 | Int(byte)
        }
        return value
    }

    static func utf8(_ data: Data, _ member: String, _ fail: (String, String) -> BundleError) throws -> String {
        guard let text = String(data: data, encoding: .utf8) else { throw fail(member, "its name is not valid UTF-8") }
        return text
    }

    /// pax records: "<length> <key>=<value>\n".
    static func paxRecords(_ data: Data, _ member: String, _ fail: (String, String) -> BundleError) throws -> [String: String] {
        var records: [String: String] = [:]
        var rest = data[...]
        while !rest.isEmpty {
            // The length counts the whole record: digits, space, key=value and the newline.
            guard let space = rest.firstIndex(of: 32), let length = Int(String(decoding: rest[rest.startIndex..<space], as: UTF8.self)),
                  length > space - rest.startIndex + 1, rest.count >= length, rest[rest.startIndex + length - 1] == 10 else {
                throw fail(member, "a pax extended header record is malformed")
            }
            let record = rest[(space + 1)..<(rest.startIndex + length - 1)]
            guard let text = String(data: Data(record), encoding: .utf8), let equals = text.firstIndex(of: "=") else {
                throw fail(member, "a pax extended header record is not UTF-8 key=value")
            }
            records[String(text[..<equals])] = String(text[text.index(after: equals)...])
            rest = rest[(rest.startIndex + length)...]
        }
        return records
    }
}
