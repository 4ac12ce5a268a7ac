import Foundation

/// A safetensors file (https://github.com/huggingface/safetensors): 8 bytes little-endian
/// header length N, N bytes of JSON header, then the raw little-endian tensor data.
///
/// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
/// (offsets into the data section) and may hold "__metadata__", a string-to-string map.
/// This type reads and writes float32 ("F32") tensors. Reading is strict: every rule of the
/// format is checked and a broken file is rejected with the rule it breaks.
public struct SafeTensors: Equatable {
    public struct Entry: Equatable {
        public var name: String
        public var shape: [Int]
        public var values: [Float]
        public init(name: String, shape: [Int], values: [Float]) {
            precondition(shape.reduce(1, *) == values.count, "SafeTensors.Entry: shape \(shape) does not hold \(values.count) values")
            (self.name, self.shape, self.values) = (name, shape, values)
        }
    }

    /// Tensors in file order.
    public var entries: [Entry]
    /// The "__metadata__" map.
    public var metadata: [String: String]

    /// Largest header accepted when reading (100 MiB, as the reference implementation).
    public static let headerLimit = 100 << 20

    public init(entries: [Entry], metadata: [String: String] = [:]) {
        (self.entries, self.metadata) = (entries, metadata)
    }

    /// The tensors by name.
    public var byName: [String: (shape: [Int], values: [Float])] {
        Dictionary(entries.map { ($0.name, (shape: $0.shape, values: $0.values)) }, uniquingKeysWith: { first, _ in first })
    }

    // MARK: Writing

    /// The file's bytes: header padded with spaces to a multiple of 8, then the data in entry order.
    public func encoded() throws -> Data {
        precondition(Set(entries.map(\.name)).count == entries.count, "SafeTensors: duplicate tensor names")
        var header: [String: Any] = [:]
        var offset = 0
        for entry in entries {
            header[entry.name] = ["dtype": "F32", "shape": entry.shape, "data_offsets": [offset, offset + entry.values.count * 4]]
            offset += entry.values.count * 4
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])
        while json.count % 8 != 0 { json.append(0x20) }
        var data = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for entry in entries {
            entry.values.withUnsafeBytes { data.append(contentsOf: $0) }  // float32 is little-endian on every supported CPU
        }
        return data
    }

    /// Writes the file atomically and durably (see `AtomicFile`).
    public func write(to url: URL) throws { try AtomicFile.write(try encoded(), to: url) }

    // MARK: Reading

    /// Reads and validates a file.
    /// - Throws: `NNError.io` when it cannot be read; `NNError.invalidSafetensors` naming the
    ///   broken rule otherwise.
    public static func read(from url: URL) throws -> SafeTensors {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw NNError.io(file: url.path, reason: "cannot read: \(error.localizedDescription)")
        }
        return try decode(data, file: url.path)
    }

    /// Validates and decodes the bytes of a file; `file` names it in errors.
    public static func decode(_ data: Data, file: String) throws -> SafeTensors {
        func fail(_ rule: String) -> NNError { .invalidSafetensors(file: file, rule: rule) }
        guard data.count >= 8 else { throw fail("the file has \(data.count) bytes, fewer than the 8-byte header length") }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength > 0 else { throw fail("the header length is 0") }
        guard headerLength <= UInt64(headerLimit) else { throw fail("the header length \(headerLength) exceeds the \(headerLimit)-byte limit") }
        guard headerLength <= UInt64(data.count - 8) else {
            throw fail("the header length \(headerLength) runs past the end of the \(data.count)-byte file")
        }
        let headerData = data.subdata(in: (data.startIndex + 8)..<(data.startIndex + 8 + Int(headerLength)))
        guard String(data: headerData, encoding: .utf8) != nil else { throw fail("the header is not UTF-8") }
        guard let header = (try? JSONSerialization.jsonObject(with: headerData)) as? [String: Any] else {
            throw fail("the header is not a JSON object")
        }
        let dataStart = data.startIndex + 8 + Int(headerLength), dataLength = data.count - 8 - Int(headerLength)

        var metadata: [String: String] = [:]
        if let raw = header["__metadata__"] {
            guard let map = raw as? [String: Any] else { throw fail("\"__metadata__\" is not an object") }
            for (key, value) in map {
                guard let text = value as? String else { throw fail("\"__metadata__\" value of \"\(key)\" is not a string") }
                metadata[key] = text
            }
        }

        var entries: [(entry: Entry, begin: Int, end: Int)] = []
        for (name, raw) in header where name != "__metadata__" {
            guard !name.isEmpty else { throw fail("a tensor has an empty name") }
            guard let fields = raw as? [String: Any] else { throw fail("tensor \"\(name)\" is not an object") }
            let unknown = Set(fields.keys).subtracting(["dtype", "shape", "data_offsets"])
            guard unknown.isEmpty else { throw fail("tensor \"\(name)\" has unknown field \"\(unknown.sorted()[0])\"") }
            guard let dtype = fields["dtype"] as? String else { throw fail("tensor \"\(name)\" has no \"dtype\"") }
            guard dtype == "F32" else { throw fail("tensor \"\(name)\" has dtype \(dtype); only F32 is supported") }
            guard let shapeValues = fields["shape"] as? [Any], let shape = integers(shapeValues), shape.allSatisfy({ $0 >= 0 }) else {
                throw fail("tensor \"\(name)\" has a \"shape\" that is not a list of non-negative integers")
            }
            guard let offsetValues = fields["data_offsets"] as? [Any], let offsets = integers(offsetValues), offsets.count == 2 else {
                throw fail("tensor \"\(name)\" has \"data_offsets\" that are not two integers")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0 && begin <= end && end <= dataLength else {
                throw fail("tensor \"\(name)\" has data_offsets [\(begin), \(end)] outside the \(dataLength)-byte data section")
            }
            let (count, overflow) = shape.reduce((1, false)) { partial, dim in
                let product = partial.0.multipliedReportingOverflow(by: dim)
                return (product.partialValue, partial.1 || product.overflow)
            }
            guard !overflow, count.multipliedReportingOverflow(by: 4).partialValue == end - begin else {
                throw fail("tensor \"\(name)\" of shape \(shape) needs \(count * 4) bytes but its data_offsets span \(end - begin)")
            }
            var values = [Float](repeating: 0, count: count)
            values.withUnsafeMutableBytes { target in
                data.copyBytes(to: target.bindMemory(to: UInt8.self), from: (dataStart + begin)..<(dataStart + end))
            }
            entries.append((Entry(name: name, shape: shape, values: values), begin, end))
        }
        entries.sort { ($0.begin, $0.end, $0.entry.name) < ($1.begin, $1.end, $1.entry.name) }
        var covered = 0
        for (entry, begin, end) in entries {
            guard begin >= covered || begin == end else {
                throw fail("tensor \"\(entry.name)\" overlaps the data of the tensor before it (offset \(begin) < \(covered))")
            }
            guard begin == covered || begin == end else { throw fail("the data section has a gap of \(begin - covered) bytes before tensor \"\(entry.name)\"") }
            covered = max(covered, end)
        }
        guard covered == dataLength else { throw fail("the data section has \(dataLength - covered) bytes that belong to no tensor") }
        return SafeTensors(entries: entries.map(\.entry), metadata: metadata)
    }

    /// Whole numbers from a JSON array (rejecting fractions and Booleans).
    private static func integers(_ values: [Any]) -> [Int]? {
        var result: [Int] = []
        for value in values {
            // JSON true/false also arrive as NSNumber (a __NSCFBoolean subclass): refuse those.
            guard let number = value as? NSNumber, !String(describing: type(of: value)).contains("Boolean"),
                  number.doubleValue == number.doubleValue.rounded(), abs(number.doubleValue) < 9e15 else { return nil }
            result.append(number.intValue)
        }
        return result
    }
}
