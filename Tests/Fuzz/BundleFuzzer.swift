// The end-to-end harness (-D FUZZ_BUNDLE): the fuzzer's bytes are not the bundle but the
// choices that build one, so every run is a plausible bundle with hostile details: tar headers
// with random numeric fields (octal, base-256, pax sizes near the integer maximum) and types,
// long and pax names, manifests with random keys, nesting and numbers, and data files (IDX,
// NPY, PNG, CSV) with random shapes. The bundle is gzipped, unpacked with small caps and loaded
// as `augerino bundle check` does; an error is fine, a crash, hang or sanitizer report is not.
import Foundation

/// The fuzzer's bytes, read as a stream of choices (zeros once they run out).
struct Choices {
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0

    mutating func byte() -> UInt8 {
        defer { position += 1 }
        return position < bytes.count ? bytes[position] : 0
    }
    mutating func below(_ bound: Int) -> Int { bound <= 1 ? 0 : Int(byte()) % bound }
    mutating func chance(_ in256: Int) -> Bool { Int(byte()) < in256 }
    mutating func uint32() -> UInt32 { (0..<4).reduce(0) { value, _ in value << 8 | UInt32(byte()) } }
    mutating func uint64() -> UInt64 { (0..<8).reduce(0) { value, _ in value << 8 | UInt64(byte()) } }
    mutating func raw(_ count: Int) -> [UInt8] { (0..<count).map { _ in byte() } }
    mutating func pick<T>(_ options: [T]) -> T { options[below(options.count)] }

    /// A number as JSON text: small, huge, fractional, negative, exponent, or garbage.
    mutating func jsonNumber() -> String {
        switch below(9) {
        case 0: return "\(below(5))"
        case 1: return "\(uint32())"
        case 2: return "\(Int64(bitPattern: uint64()))"
        case 3: return "\(Double(uint32()) / 1000)"
        case 4: return "1e\(below(400))"
        case 5: return "-\(below(100)).5"
        case 6: return pick(["1.5", "1e0", "01", "-0", "1e999", "NaN", "1e39", "3.4e38", "\"1\""])
        case 7: return "\(UInt64.max)"
        default: return "\(Double(Int64(bitPattern: uint64())))"
        }
    }

    /// Any JSON value, nesting at most `depth` more levels.
    mutating func jsonValue(depth: Int) -> String {
        switch depth > 0 ? below(7) : below(4) {
        case 0: return jsonNumber()
        case 1: return "\"" + pick(["x.idx", "y.idx", "y.csv", "../x", "d", "/etc/passwd", "", "a\\u0000b", "classification", "regression", "rotation"]) + "\""
        case 2: return pick(["true", "false", "null"])
        case 3: return "\"" + String(decoding: raw(below(12)).map { $0 & 0x7F == 0x22 || $0 & 0x7F == 0x5C ? 0x61 : $0 & 0x7F }, as: UTF8.self) + "\""
        case 4: return "[" + (0..<below(4)).map { _ in jsonValue(depth: depth - 1) }.joined(separator: ",") + "]"
        default:
            let keys = ["format", "name", "task", "splits", "train", "test", "inputs", "targets", "classes", "input", "mean", "std",
                        "augmentation", "generators", "initial_theta", "rotation", "model", "architecture", "width", "training", "epochs", "batch_size", "seed"]
            return "{" + (0..<below(5)).map { _ in "\"\(pick(keys))\":\(jsonValue(depth: depth - 1))" }.joined(separator: ",") + "}"
        }
    }

    mutating func manifest() -> Data {
        if chance(40) { return Data((jsonValue(depth: below(40))).utf8) }  // anything, sometimes deep
        let task = chance(200) ? "classification" : pick(["regression", "ranking"])
        var splits = "\"train\": {\"inputs\": \"\(pick(["x.idx", "x.npy", "train", "../train", "x.idx.gz"]))\"" + (chance(200) ? ", \"targets\": \"\(pick(["y.idx", "y.csv", "y.npy"]))\"" : "") + "}"
        if chance(80) { splits += ", \"test\": {\"inputs\": \"x.idx\", \"targets\": \"y.idx\"}" }
        var text = "{\"format\": \(chance(200) ? "1" : jsonNumber()), \"name\": \"fz\", \"task\": \"\(task)\", \"splits\": {\(splits)}"
        if chance(60) { text += ", \"classes\": [\"a\", \"b\"\(chance(128) ? ", \"a\"" : "")]" }
        if chance(60) { text += ", \"input\": {\"mean\": \(jsonNumber()), \"std\": \(jsonNumber())}" }
        if chance(60) { text += ", \"training\": {\"epochs\": \(jsonNumber()), \"batch_size\": \(jsonNumber())}" }
        if chance(30) { text += ", \"model\": \(jsonValue(depth: 2))" }
        if chance(20) { text += ", \"task\": \"regression\"" }  // a duplicate key
        return Data((text + "}").utf8)
    }

    /// An IDX file: random type and rank, dimensions small or absurd, data of some length.
    mutating func idx() -> Data {
        let rank = chance(200) ? 1 + below(4) : below(256)
        var data = Data([0, 0, pick([0x08, 0x0D, 0x09, 0x0B]), UInt8(rank)])
        var count = 1
        for _ in 0..<min(rank, 8) {
            let dimension: UInt32 = chance(200) ? UInt32(below(6)) : uint32()
            withUnsafeBytes(of: dimension.bigEndian) { data.append(contentsOf: $0) }
            count = count.multipliedReportingOverflow(by: Int(dimension)).partialValue
        }
        let length = chance(200) ? min(max(count, 0), 4096) : below(64)
        data += Data(raw(min(length, 64)) + [UInt8](repeating: 0, count: max(0, length - 64)))
        return chance(40) ? Gzip.compress(data, level: 1) : data
    }

    mutating func npy() -> Data {
        let shape = (0..<below(4)).map { _ in chance(200) ? "\(below(5))" : "\(uint64())" }.joined(separator: ", ")
        let header = "{'descr': '\(pick(["<f4", "|u1", "<f8", "<i8", ">f4"]))', 'fortran_order': \(chance(220) ? "False" : "True"), 'shape': (\(shape),), }"
        var data = Data([0x93] + Array("NUMPY".utf8) + [UInt8(1 + below(3)), 0])
        let length = header.utf8.count + (chance(220) ? 0 : Int(byte()))
        data += withUnsafeBytes(of: UInt16(truncatingIfNeeded: length).littleEndian) { Data($0) }
        return data + Data(header.utf8) + Data(raw(below(64)))
    }

    mutating func png() -> Data {
        func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
            let typed = Array(type.utf8) + body
            return withUnsafeBytes(of: UInt32(body.count).bigEndian, Array.init) + typed + withUnsafeBytes(of: UInt32(0).bigEndian, Array.init)
        }
        let width: UInt32 = chance(200) ? UInt32(1 + below(8)) : uint32(), height: UInt32 = chance(200) ? UInt32(1 + below(8)) : uint32()
        let ihdr = withUnsafeBytes(of: width.bigEndian, Array.init) + withUnsafeBytes(of: height.bigEndian, Array.init)
            + [pick([1, 2, 4, 8, 16, 3]), pick([0, 2, 3, 4, 6, 7]), 0, 0, UInt8(below(3))]
        var bytes: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr)
        if chance(60) { bytes += chunk("PLTE", raw(3 * below(8))) }
        bytes += chunk("IDAT", chance(180) ? Gzip.zlibCompress(raw(below(200))) : raw(below(40))) + chunk("IEND", [])
        return Data(bytes)
    }

    mutating func csv() -> Data {
        var text = pick(["target", "label", "a,target", "x,y,z", String(repeating: "c,", count: below(3000))]) + "\n"
        for _ in 0..<below(8) { text += pick(["1", "0", "a", "b", "1e30", "NaN", "-1", "2.5", "1,2", "\"a\""]) + "\n" }
        return Data(text.utf8)
    }

    /// A member name: ordinary, hostile, long, or raw bytes.
    mutating func name() -> [UInt8] {
        switch below(12) {
        case 0: return Array("manifest.json".utf8)
        case 1: return Array("top/manifest.json".utf8)
        case 2: return Array(pick(["x.idx", "y.idx", "x.npy", "y.csv", "x.idx.gz", "y.npy"]).utf8)
        case 3: return Array("train/\(pick(["a", "b", ".h"]))/\(below(4)).png".utf8)
        case 4: return Array(pick(["../x", "/etc/x", "a/../../b", "./x.idx", "", "d//e", "a\0b"]).utf8)
        case 5: return [UInt8](repeating: UInt8(ascii: "n"), count: 90 + below(400))
        case 6: return Array(("a" + String(repeating: "\u{301}", count: below(3000))).utf8)
        case 7: return raw(below(20))
        default: return Array(pick(["x.idx", "y.idx", "manifest.json", "train/a/0.png", "d/"]).utf8)
        }
    }

    /// One tar header block: the name's first 100 bytes, a size field by some encoding, a type.
    mutating func header(name: [UInt8], size: Int, type: UInt8) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 512)
        header.replaceSubrange(0..<min(100, name.count), with: name.prefix(100))
        for (at, text) in [(100, "0000644"), (108, "0000000"), (116, "0000000"), (136, "00000000000")] {
            header.replaceSubrange(at..<(at + text.utf8.count), with: Array(text.utf8))
        }
        switch below(10) {
        case 0: header.replaceSubrange(124..<136, with: [0x80 | (byte() & 0x7F)] + raw(11))  // base-256, any value
        case 1: header.replaceSubrange(124..<136, with: raw(12))
        case 2: header.replaceSubrange(124..<135, with: Array(String(format: "%011llo", uint64() & 0o77777777777).utf8))
        default: header.replaceSubrange(124..<135, with: Array(String(format: "%011o", size).utf8))
        }
        header[156] = type
        header.replaceSubrange(257..<263, with: Array("ustar\0".utf8))
        if chance(20) { header.replaceSubrange(345..<(345 + 20), with: raw(20)) }
        for i in 148..<156 { header[i] = 32 }
        let sum = chance(250) ? header.reduce(0) { $0 + Int($1) } : Int(uint32())
        header.replaceSubrange(148..<156, with: Array((String(format: "%06o", sum & 0o777777) + "\0 ").utf8))
        return header
    }

    mutating func paxRecords() -> [UInt8] {
        var body: [UInt8] = []
        for _ in 0..<below(4) {
            let key = pick(["path", "size", "comment", "linkpath", "x"])
            let value: String
            switch key {
            case "size": value = pick(["\(Int.max)", "\(UInt64.max)", "-1", "\(below(5000))", "1e3", ""])
            case "path": value = String(decoding: name(), as: UTF8.self)
            default: value = String(decoding: raw(below(10)).map { $0 | 0x20 }, as: UTF8.self)
            }
            let text = " \(key)=\(value)\n"
            var length = text.utf8.count + 1
            while "\(length)".utf8.count + text.utf8.count != length { length += 1 }
            body += Array((chance(240) ? "\(length)" : "\(uint32())").utf8) + Array(text.utf8)
        }
        return body
    }

    /// The whole tar stream.
    mutating func tar() -> Data {
        var archive: [UInt8] = []
        func append(_ name: [UInt8], _ data: [UInt8], type: UInt8) {
            archive += header(name: name, size: data.count, type: type) + data + [UInt8](repeating: 0, count: (512 - data.count % 512) % 512)
        }
        for _ in 0..<below(7) {
            let name = self.name()
            if chance(50) { append(Array("PaxHeader".utf8), paxRecords(), type: UInt8(ascii: "x")) }
            if name.count > 100 || chance(20) { append(Array("././@LongLink".utf8), name + [0], type: UInt8(ascii: "L")) }
            let type: UInt8 = chance(200) ? UInt8(ascii: "0") : pick([UInt8(ascii: "5"), UInt8(ascii: "2"), UInt8(ascii: "1"), UInt8(ascii: "6"), 0, UInt8(ascii: "g"), byte()])
            let text = String(decoding: name, as: UTF8.self)
            let content: Data
            if text.hasSuffix("manifest.json") { content = manifest() }
            else if text.hasSuffix(".idx") || text.hasSuffix(".gz") { content = idx() }
            else if text.hasSuffix(".npy") { content = npy() }
            else if text.hasSuffix(".png") { content = png() }
            else if text.hasSuffix(".csv") { content = csv() }
            else { content = Data(raw(below(100))) }
            append(name, [UInt8](content), type: type)
        }
        if chance(230) { archive += [UInt8](repeating: 0, count: 1024) }
        if chance(10) { archive += raw(below(600)) }
        return Data(archive)
    }
}

enum BundleFuzzer {
    static let root: String = {
        let base = (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()) + "/augerino-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        return base
    }()

    static func run(_ bytes: UnsafeBufferPointer<UInt8>) {
        var choices = Choices(bytes: bytes)
        let stream = choices.tar()
        let compressed = choices.chance(250) ? Gzip.compress(stream, level: 1) : Data(choices.raw(choices.below(64))) + Gzip.compress(stream, level: 1)
        let bundle = URL(fileURLWithPath: root + "/b.tar.gz"), target = URL(fileURLWithPath: root + "/x")
        try? FileManager.default.removeItem(at: target)
        guard (try? compressed.write(to: bundle)) != nil else { return }
        var limits = BundleLimits()
        (limits.maxMembers, limits.maxMemberBytes, limits.maxTotalBytes, limits.maxCompressionRatio) = (40, 1 << 20, 4 << 20, 1000)
        if let folder = try? BundleArchive.extract(bundle, into: target, limits: limits, displayName: "fuzz.tar.gz") {
            _ = try? DatasetFolder.load(folder, limits: limits, displayName: "fuzz.tar.gz")
        }
        try? FileManager.default.removeItem(at: target)
    }
}
