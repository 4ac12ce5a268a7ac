import CZlib
import Foundation

/// A streaming gzip (RFC 1952) reader: compressed bytes come from a file descriptor (or memory)
/// 64 KiB at a time and leave inflated through `read(into:)`, so memory stays bounded whatever
/// the stream holds. Strict as `Gzip.decompress`: every member's CRC-32 and length checked (by
/// zlib), members may follow each other, anything else after the last member is an error, and
/// output beyond `limit` bytes stops decompression at once.
public final class GzipReader {
    private enum Source { case descriptor(Int32), memory(Data, offset: Int) }
    private var source: Source
    private let name: String
    private let limit: Int
    private let limitRule: String
    private var stream = z_stream()
    private let inputCapacity = 1 << 16
    private let input: UnsafeMutablePointer<UInt8>
    private var inputEnded = false
    private var finished = false
    /// Compressed bytes consumed by zlib so far (for messages).
    private var consumed = 0
    /// Decompressed bytes produced so far.
    public private(set) var produced = 0

    /// Reads from an open file descriptor (not closed here).
    public convenience init(descriptor: Int32, name: String, limit: Int, limitRule: String? = nil) throws {
        try self.init(source: .descriptor(descriptor), name: name, limit: limit, limitRule: limitRule)
    }

    /// Reads from bytes in memory.
    public convenience init(data: Data, name: String, limit: Int, limitRule: String? = nil) throws {
        try self.init(source: .memory(data, offset: 0), name: name, limit: limit, limitRule: limitRule)
    }

    private init(source: Source, name: String, limit: Int, limitRule: String?) throws {
        self.source = source
        self.name = name
        self.limit = limit
        self.limitRule = limitRule ?? "the \(limit)-byte limit"
        input = .allocate(capacity: inputCapacity)
        // 15 + 16: a gzip wrapper only (no zlib or raw deflate), with the largest window.
        guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            input.deallocate()
            throw BundleError.gzip(file: name, rule: "zlib could not start")
        }
        try refill()
        guard stream.avail_in >= 2, input[0] == 0x1F, input[1] == 0x8B else { throw fail("it does not start with the gzip magic bytes 1f 8b") }
    }

    deinit {
        inflateEnd(&stream)
        input.deallocate()
    }

    private func fail(_ rule: String) -> BundleError { .gzip(file: name, rule: rule) }

    /// Moves unread input to the front and fills the rest from the source.
    private func refill() throws {
        let kept = Int(stream.avail_in)
        if kept > 0, let next = stream.next_in, next != input { input.update(from: next, count: kept) }
        var filled = kept
        while filled < inputCapacity && !inputEnded {
            switch source {
            case let .descriptor(fd):
                let n = Glibc.read(fd, input + filled, inputCapacity - filled)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw BundleError.unreadable(file: name, reason: String(cString: strerror(errno)))
                }
                if n == 0 { inputEnded = true } else { filled += n }
            case let .memory(data, offset):
                let n = min(inputCapacity - filled, data.count - offset)
                data.withUnsafeBytes { raw in (input + filled).update(from: raw.bindMemory(to: UInt8.self).baseAddress! + offset, count: n) }
                filled += n
                source = .memory(data, offset: offset + n)
                if offset + n == data.count { inputEnded = true }
            }
            if case .descriptor = source { break }  // one read per refill is enough for a file
        }
        stream.next_in = input
        stream.avail_in = UInt32(filled)
    }

    /// Fills `buffer` with up to its size of inflated bytes; returns how many, 0 at the end of
    /// the last member.
    /// - Throws: `BundleError.gzip` naming the rule broken (corrupt, truncated, trailing
    ///   bytes, over the limit), or `.unreadable` when the file cannot be read.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard !finished, buffer.count > 0 else { return 0 }
        while true {
            if stream.avail_in == 0 && !inputEnded { try refill() }
            let before = stream.avail_in
            stream.next_out = buffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = UInt32(buffer.count)
            let status = inflate(&stream, Z_NO_FLUSH)
            let count = buffer.count - Int(stream.avail_out)
            consumed += Int(before - stream.avail_in)
            produced += count
            guard produced <= limit else { throw fail("it decompresses to more than \(limitRule)") }
            switch status {
            case Z_OK:
                if count > 0 { return count }
                if stream.avail_in == 0 && inputEnded { throw fail("it is truncated (the last member ends early)") }
            case Z_BUF_ERROR:
                if stream.avail_in == 0 && inputEnded { throw fail("it is truncated (the last member ends early)") }
                if count > 0 { return count }
            case Z_STREAM_END:
                // Another member must follow directly; anything else is trailing garbage.
                if stream.avail_in < 2 && !inputEnded { try refill() }
                if stream.avail_in == 0 && inputEnded {
                    finished = true
                    return count
                }
                guard stream.avail_in >= 2, stream.next_in[0] == 0x1F, stream.next_in[1] == 0x8B else {
                    var trailing = Int(stream.avail_in)
                    if case let .memory(data, offset) = source { trailing += data.count - offset }
                    throw fail("\(trailing)\(inputEnded ? "" : " or more") bytes follow the last gzip member")
                }
                guard inflateReset(&stream) == Z_OK else { throw fail("zlib could not start the next member") }
                if count > 0 { return count }
            case Z_DATA_ERROR:
                let detail = stream.msg.map { String(cString: $0) } ?? "corrupt data"
                throw fail("\(detail) at compressed byte \(consumed)")
            case Z_MEM_ERROR:
                throw fail("zlib ran out of memory")
            default:
                throw fail("zlib reported error \(status) at compressed byte \(consumed)")
            }
        }
    }

    /// Reads exactly `count` bytes into `buffer` unless the stream ends first; returns how many.
    public func readFully(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var filled = 0
        while filled < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if n == 0 { break }
            filled += n
        }
        return filled
    }
}
