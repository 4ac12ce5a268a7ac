import Foundation

/// NumPy's .npy format (versions 1.0, 2.0 and 3.0): magic "\x93NUMPY", version, a header
/// length (2 bytes in 1.0, 4 bytes after), a Python-literal header
/// {'descr': '<f4', 'fortran_order': False, 'shape': (N, H, W), } padded with spaces, then the
/// data in C order. Element types read: |u1, <f4, <f8, <i8 (little-endian), as floats.
public enum NPY {
    /// - Throws: `BundleError.data` naming the file and the rule.
    /// `maxValues`: the most elements accepted (checked on the header, before allocating).
    public static func parse(_ data: Data, file: String, maxValues: Int = .max) throws -> IDXArray {
        func fail(_ rule: String) -> BundleError { .data(file: file, rule: "not a valid NPY file: \(rule)") }
        let bytes = [UInt8](data.prefix(12))
        guard bytes.count >= 10, bytes[0..<6] == [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59] else { throw fail("it does not start with \\x93NUMPY") }
        let major = bytes[6]
        guard (1...3).contains(major) else { throw fail("version \(major).\(bytes[7]) is not 1, 2 or 3") }
        let lengthBytes = major == 1 ? 2 : 4
        guard bytes.count >= 8 + lengthBytes else { throw fail("the file ends inside the header length") }
        let headerLength = (0..<lengthBytes).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
        let start = 8 + lengthBytes
        guard data.count >= start + headerLength else { throw fail("the header of \(headerLength) bytes runs past the end of the file") }
        guard let header = String(data: data.subdata(in: (data.startIndex + start)..<(data.startIndex + start + headerLength)),
                                  encoding: major == 3 ? .utf8 : .isoLatin1) else { throw fail("the header is not text") }
        guard let descr = value(of: "descr", in: header)?.trimmingCharacters(in: CharacterSet(charactersIn: "'\"")) else { throw fail("the header has no 'descr'") }
        guard let order = value(of: "fortran_order", in: header), order == "False" else {
            throw fail("only C order is read ('fortran_order' must be False)")
        }
        guard let shapeText = value(of: "shape", in: header) else { throw fail("the header has no 'shape'") }
        let dims = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "()")).split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard let shape = Optional(dims.compactMap { Int($0) }), shape.count == dims.count, shape.allSatisfy({ $0 >= 0 }) else {
            throw fail("the shape \(shapeText) is not a tuple of sizes")
        }
        let size: Int
        switch descr {
        case "|u1", "<u1", "u1": size = 1
        case "<f4": size = 4
        case "<f8", "<i8": size = 8
        default: throw fail("dtype '\(descr)' is not supported (|u1, <f4, <f8, <i8)")
        }
        var count = 1
        for dim in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow, product <= data.count else { throw fail("the shape \(shape) is larger than the \(data.count)-byte file can hold") }
            count = product
        }
        let body = start + headerLength
        guard data.count == body + count * size else {
            throw fail("shape \(shape) of \(descr) needs \(count * size) bytes of data, the file has \(data.count - body)")
        }
        guard count <= maxValues else { throw fail("the shape \(shape) holds \(count) values, more than the \(maxValues) left to the dataset (rule: total size cap, counted in values)") }
        var values = [Float](repeating: 0, count: count)
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let base = raw.baseAddress! + body
            for i in 0..<count {
                switch descr {
                case "<f4": values[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                case "<f8": values[i] = Float(Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
                case "<i8": values[i] = Float(Int64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
                default: values[i] = Float(base.load(fromByteOffset: i, as: UInt8.self))
                }
            }
        }
        return IDXArray(shape: shape, values: values)
    }

    /// The .npy bytes (version 1.0, '<f4') of a float array.
    public static func encode(shape: [Int], values: [Float]) -> Data {
        precondition(shape.reduce(1, *) == values.count, "NPY: shape \(shape) does not hold \(values.count) values")
        let tuple = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(tuple), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        withUnsafeBytes(of: UInt16(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(Data(header.utf8))
        for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }

    /// The text after `'key':` up to the next top-level comma (tuples kept whole).
    private static func value(of key: String, in header: String) -> String? {
        guard let range = header.range(of: "'\(key)':") ?? header.range(of: "\"\(key)\":") else { return nil }
        var depth = 0, result = ""
        for character in header[range.upperBound...] {
            if character == "(" { depth += 1 }
            if character == ")" { depth -= 1; if depth < 0 { break } }
            if (character == "," && depth == 0) || character == "}" { break }
            result.append(character)
            if depth == 0 && character == ")" { break }
        }
        return result.trimmingCharacters(in: .whitespaces)
    }
}
