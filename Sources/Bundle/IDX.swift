import Foundation

/// An IDX array (the MNIST file format): a big-endian magic 0x0000TTDD (TT: element type,
/// DD: number of dimensions), one big-endian UInt32 per dimension, then the elements in C order.
/// Element types read here: 0x08 unsigned byte, 0x0D float32 (big-endian).
public struct IDXArray: Equatable {
    public var shape: [Int]
    /// The elements as floats (bytes keep their 0...255 values).
    public var values: [Float]

    /// Parses an IDX file already in memory (gzip-compressed ones are detected and inflated, to
    /// at most `limit` bytes: a small file may not inflate to gigabytes).
    /// - Throws: `BundleError.idx` or `.gzip` naming the rule broken.
    /// `maxValues`: the most elements accepted (checked on the header, before allocating).
    public static func parse(_ raw: Data, file: String, limit: Int = BundleLimits().maxMemberBytes, maxValues: Int = .max) throws -> IDXArray {
        let data = raw.starts(with: [0x1F, 0x8B])
            ? try Gzip.decompress(raw, file: file, limit: limit, limitRule: "the \(limit)-byte member size cap (rule: member size cap, which a compressed IDX file's content obeys too)")
            : raw
        func fail(_ rule: String) -> BundleError { .idx(file: file, rule: rule) }
        let bytes = [UInt8](data.prefix(4))
        guard bytes.count == 4 else { throw fail("it has \(data.count) bytes, fewer than the 4-byte magic") }
        guard bytes[0] == 0, bytes[1] == 0 else { throw fail("the magic must start with two zero bytes") }
        let type = bytes[2], rank = Int(bytes[3])
        let elementSize: Int
        switch type {
        case 0x08: elementSize = 1
        case 0x0D: elementSize = 4
        default: throw fail(String(format: "element type 0x%02X is not supported (0x08 unsigned byte, 0x0D float32)", type))
        }
        guard rank >= 1 else { throw fail("it declares 0 dimensions") }
        guard data.count >= 4 + 4 * rank else { throw fail("the header declares \(rank) dimensions but the file ends inside it") }
        let header = [UInt8](data.prefix(4 + 4 * rank))
        let shape = (0..<rank).map { d in (0..<4).reduce(0) { $0 << 8 | Int(header[4 + 4 * d + $1]) } }
        // Multiply with overflow checks: a hostile header may declare absurd sizes.
        var count = 1
        for dim in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow, product <= data.count else { throw fail("shape \(shape) is larger than the \(data.count)-byte file can hold") }
            count = product
        }
        let expected = 4 + 4 * rank + count * elementSize
        guard data.count == expected else {
            throw fail("shape \(shape) needs \(expected) bytes but the file has \(data.count)")
        }
        guard count <= maxValues else { throw fail("shape \(shape) holds \(count) values, more than the \(maxValues) left to the dataset (rule: total size cap, counted in values)") }
        var values = [Float](repeating: 0, count: count)
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let body = raw.baseAddress! + 4 + 4 * rank
            if elementSize == 1 {
                for i in 0..<count { values[i] = Float(body.load(fromByteOffset: i, as: UInt8.self)) }
            } else {
                for i in 0..<count { values[i] = Float(bitPattern: UInt32(bigEndian: body.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            }
        }
        return IDXArray(shape: shape, values: values)
    }

    /// Reads an IDX file (gzip-compressed or not) as a stream: the header first, its shape
    /// checked against `maxValues` and the file's size, then the elements converted as they
    /// arrive, so memory is the values alone (never the file's bytes as well).
    /// - Throws: `BundleError.idx`, `.gzip` or `.unreadable` naming the file and the rule.
    public static func stream(from url: URL, limit: Int, maxValues: Int) throws -> IDXArray {
        func fail(_ rule: String) -> BundleError { .idx(file: url.path, rule: rule) }
        let (fd, size) = try BoundedFile.openRegularFile(url)
        defer { close(fd) }
        var magic = [UInt8](repeating: 0, count: 2)
        let compressed = pread(fd, &magic, 2, 0) == 2 && magic == [0x1F, 0x8B]
        let gzip = compressed ? try GzipReader(descriptor: fd, name: url.path, limit: limit,
                                               limitRule: "the \(limit)-byte member size cap (rule: member size cap, which a compressed IDX file's content obeys too)") : nil
        guard compressed || size <= limit else { throw fail("it holds \(size) bytes, more than \(limit) (rule: member size cap)") }
        func read(_ buffer: UnsafeMutableRawBufferPointer) throws -> Int {
            if let gzip { return try gzip.readFully(into: buffer) }
            return try BoundedFile.readFully(fd, into: buffer, file: url.path)
        }
        var head = [UInt8](repeating: 0, count: 4)
        guard try head.withUnsafeMutableBytes(read) == 4 else { throw fail("it has fewer than the 4 bytes of the magic") }
        guard head[0] == 0, head[1] == 0 else { throw fail("the magic must start with two zero bytes") }
        let elementSize: Int
        switch head[2] {
        case 0x08: elementSize = 1
        case 0x0D: elementSize = 4
        default: throw fail(String(format: "element type 0x%02X is not supported (0x08 unsigned byte, 0x0D float32)", head[2]))
        }
        let rank = Int(head[3])
        guard rank >= 1 else { throw fail("it declares 0 dimensions") }
        var dims = [UInt8](repeating: 0, count: 4 * rank)
        guard try dims.withUnsafeMutableBytes(read) == 4 * rank else { throw fail("the header declares \(rank) dimensions but the file ends inside it") }
        let shape = (0..<rank).map { d in (0..<4).reduce(0) { $0 << 8 | Int(dims[4 * d + $1]) } }
        var count = 1
        for dim in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow, product <= limit else { throw fail("shape \(shape) is larger than the \(limit)-byte member size cap") }
            count = product
        }
        if !compressed, size != 4 + 4 * rank + count * elementSize {
            throw fail("shape \(shape) needs \(4 + 4 * rank + count * elementSize) bytes but the file has \(size)")
        }
        guard count <= maxValues else { throw fail("shape \(shape) holds \(count) values, more than the \(maxValues) left to the dataset (rule: total size cap, counted in values)") }
        var values = [Float](repeating: 0, count: count)
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var done = 0
        while done < count {
            let want = min(chunk.count / elementSize, count - done) * elementSize
            let got = try chunk.withUnsafeMutableBytes { try read(UnsafeMutableRawBufferPointer(rebasing: $0[0..<want])) }
            guard got == want else { throw fail("shape \(shape) needs \(count * elementSize) bytes of data but the file ends after \(done * elementSize + got)") }
            values.withUnsafeMutableBufferPointer { target in
                chunk.withUnsafeBytes { source in
                    if elementSize == 1 {
                        for i in 0..<want { target[done + i] = Float(source[i]) }
                    } else {
                        for i in 0..<(want / 4) { target[done + i] = Float(bitPattern: UInt32(bigEndian: source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
                    }
                }
            }
            done += want / elementSize
        }
        var extra = [UInt8](repeating: 0, count: 1)
        guard try extra.withUnsafeMutableBytes(read) == 0 else { throw fail("there are bytes after the \(count) values its shape \(shape) holds") }
        return IDXArray(shape: shape, values: values)
    }

    /// Reads and parses a file.
    public static func read(from url: URL) throws -> IDXArray {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw BundleError.unreadable(file: url.path, reason: error.localizedDescription)
        }
        return try parse(data, file: url.path)
    }

    /// The IDX bytes of an unsigned-byte array (values rounded and clamped to 0...255).
    public static func encodeBytes(shape: [Int], values: [Float]) -> Data {
        precondition(shape.reduce(1, *) == values.count && shape.count < 256, "IDX: shape \(shape) does not hold \(values.count) values")
        var data = Data([0, 0, 0x08, UInt8(shape.count)])
        for dim in shape { withUnsafeBytes(of: UInt32(dim).bigEndian) { data.append(contentsOf: $0) } }
        data.append(contentsOf: values.map { UInt8(max(0, min(255, $0.rounded()))) })
        return data
    }

    /// The IDX bytes of a float32 array (element type 0x0D, big-endian).
    public static func encodeFloats(shape: [Int], values: [Float]) -> Data {
        precondition(shape.reduce(1, *) == values.count && shape.count < 256, "IDX: shape \(shape) does not hold \(values.count) values")
        var data = Data([0, 0, 0x0D, UInt8(shape.count)])
        for dim in shape { withUnsafeBytes(of: UInt32(dim).bigEndian) { data.append(contentsOf: $0) } }
        for value in values { withUnsafeBytes(of: value.bitPattern.bigEndian) { data.append(contentsOf: $0) } }
        return data
    }
}
