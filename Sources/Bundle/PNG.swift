import CZlib
import Foundation

/// PNG decoding (ISO/IEC 15948) with the system zlib: every colour type (grey, RGB, palette,
/// grey + alpha, RGBA), bit depths 1 to 16, Adam7 interlacing, the five filters, and chunk CRCs
/// checked. Images come out as C×H×W floats on the 0...255 scale: grey (with or without alpha)
/// as one channel, everything else as three (alpha is dropped; 16-bit values are divided by 257).
public enum PNG {
    public struct Image: Equatable {
        public var channels: Int, height: Int, width: Int
        public var values: [Float]
    }

    /// - Throws: `BundleError.data` naming the file and the rule.
    /// An 8-bit PNG (grey for 1 channel, RGB for 3) of `pixels` in row-major, channel-last
    /// order, compressed with zlib; the inverse of `decode` for these two colour types.
    public static func encode(width: Int, height: Int, channels: Int, pixels: [UInt8]) -> Data {
        precondition((channels == 1 || channels == 3) && pixels.count == width * height * channels, "PNG: \(channels) channels, \(pixels.count) bytes")
        func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
            let typed = Array(type.utf8) + body
            let crc = typed.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
            return bigEndian(UInt32(body.count)) + typed + bigEndian(crc)
        }
        var raw: [UInt8] = []
        raw.reserveCapacity((width * channels + 1) * height)
        for row in 0..<height {
            raw.append(0)  // filter: none
            raw += pixels[(row * width * channels)..<((row + 1) * width * channels)]
        }
        let header = bigEndian(UInt32(width)) + bigEndian(UInt32(height)) + [8, channels == 1 ? 0 : 2, 0, 0, 0]
        let bytes: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header) + chunk("IDAT", Gzip.zlibCompress(raw)) + chunk("IEND", [])
        return Data(bytes)
    }

    public static func decode(_ data: Data, file: String) throws -> Image {
        func fail(_ rule: String) -> BundleError { .data(file: file, rule: "not a valid PNG image: \(rule)") }
        let bytes = [UInt8](data)
        guard bytes.count >= 8, bytes[0..<8] == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] else { throw fail("the PNG signature is missing") }
        var offset = 8
        var header: (width: Int, height: Int, depth: Int, color: Int, interlace: Int)? = nil
        var palette: [UInt8] = [], compressed: [UInt8] = []
        var ended = false
        while offset < bytes.count {
            guard bytes.count - offset >= 12 else { throw fail("a chunk is truncated") }
            let length = Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            guard length >= 0, length <= bytes.count - offset - 12 else { throw fail("a chunk's length runs past the end of the file") }
            let type = String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self)
            let body = Array(bytes[(offset + 8)..<(offset + 8 + length)])
            let stored = UInt32(bytes[offset + 8 + length]) << 24 | UInt32(bytes[offset + 9 + length]) << 16
                | UInt32(bytes[offset + 10 + length]) << 8 | UInt32(bytes[offset + 11 + length])
            let computed = bytes[(offset + 4)..<(offset + 8 + length)].withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
            guard stored == computed else { throw fail("the CRC of chunk \(type) is wrong; the file is corrupt") }
            offset += 12 + length
            switch type {
            case "IHDR":
                guard body.count == 13 else { throw fail("IHDR has \(body.count) bytes, not 13") }
                let width = Int(body[0]) << 24 | Int(body[1]) << 16 | Int(body[2]) << 8 | Int(body[3])
                let height = Int(body[4]) << 24 | Int(body[5]) << 16 | Int(body[6]) << 8 | Int(body[7])
                header = (width, height, Int(body[8]), Int(body[9]), Int(body[12]))
            case "PLTE": palette = body
            case "IDAT": compressed += body
            case "IEND": ended = true
            default: break  // ancillary chunks carry nothing needed here
            }
            if ended { break }
        }
        guard let (width, height, depth, color, interlace) = header else { throw fail("there is no IHDR chunk") }
        guard ended else { throw fail("there is no IEND chunk; the file is truncated") }
        guard width > 0, height > 0, width <= 16384, height <= 16384 else { throw fail("size \(width)×\(height) is outside 1…16384") }
        guard width * height <= maxPixels else {
            throw fail("size \(width)×\(height) has more than \(maxPixels) pixels (rule: image size cap; training images are small)")
        }
        let samplesPerPixel: Int
        switch (color, depth) {
        case (0, 1), (0, 2), (0, 4), (0, 8), (0, 16): samplesPerPixel = 1
        case (2, 8), (2, 16): samplesPerPixel = 3
        case (3, 1), (3, 2), (3, 4), (3, 8): samplesPerPixel = 1
        case (4, 8), (4, 16): samplesPerPixel = 2
        case (6, 8), (6, 16): samplesPerPixel = 4
        default: throw fail("colour type \(color) with bit depth \(depth) is not allowed by the PNG standard")
        }
        guard interlace == 0 || interlace == 1 else { throw fail("interlace method \(interlace) is unknown") }
        guard color != 3 || (!palette.isEmpty && palette.count % 3 == 0) else { throw fail("a palette image has no valid PLTE chunk") }
        let bitsPerPixel = samplesPerPixel * depth
        let passes: [(x0: Int, y0: Int, dx: Int, dy: Int)] = interlace == 0 ? [(0, 0, 1, 1)]
            : [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        var expected = 0
        for pass in passes {
            let w = (width - pass.x0 + pass.dx - 1) / pass.dx, h = (height - pass.y0 + pass.dy - 1) / pass.dy
            if w > 0 && h > 0 { expected += h * (1 + (w * bitsPerPixel + 7) / 8) }
        }
        let raw = try inflateZlib(compressed, expected: expected, fail)
        let channels = (color == 0 || color == 4) ? 1 : 3
        var values = [Float](repeating: 0, count: channels * height * width)
        var position = 0
        let bytesPerPixel = max(1, bitsPerPixel / 8)
        for pass in passes {
            let w = (width - pass.x0 + pass.dx - 1) / pass.dx, h = (height - pass.y0 + pass.dy - 1) / pass.dy
            guard w > 0 && h > 0 else { continue }
            let stride = (w * bitsPerPixel + 7) / 8
            var previous = [UInt8](repeating: 0, count: stride), line = [UInt8](repeating: 0, count: stride)
            for row in 0..<h {
                let filter = raw[position]
                for i in 0..<stride {
                    let x = raw[position + 1 + i]
                    let a = i >= bytesPerPixel ? Int(line[i - bytesPerPixel]) : 0, b = Int(previous[i])
                    let c = i >= bytesPerPixel ? Int(previous[i - bytesPerPixel]) : 0
                    let predictor: Int
                    switch filter {
                    case 0: predictor = 0
                    case 1: predictor = a
                    case 2: predictor = b
                    case 3: predictor = (a + b) / 2
                    case 4:
                        let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                        predictor = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
                    default: throw fail("row \(row) uses filter type \(filter), which does not exist")
                    }
                    line[i] = UInt8(truncatingIfNeeded: Int(x) + predictor)
                }
                position += 1 + stride
                for col in 0..<w {
                    func sample(_ k: Int) -> Int {
                        if depth == 16 { let at = (col * samplesPerPixel + k) * 2; return Int(line[at]) << 8 | Int(line[at + 1]) }
                        if depth == 8 { return Int(line[col * samplesPerPixel + k]) }
                        let bit = col * depth, byte = Int(line[bit / 8])
                        return (byte >> (8 - depth - bit % 8)) & ((1 << depth) - 1)
                    }
                    let scale: Float = depth == 16 ? 1 / 257 : (color == 3 ? 1 : 255 / Float((1 << depth) - 1))
                    let (y, x) = (pass.y0 + row * pass.dy, pass.x0 + col * pass.dx)
                    if color == 3 {
                        let index = sample(0)
                        guard index * 3 + 2 < palette.count else { throw fail("pixel (\(x), \(y)) uses palette entry \(index), beyond the palette") }
                        for k in 0..<3 { values[(k * height + y) * width + x] = Float(palette[index * 3 + k]) }
                    } else {
                        for k in 0..<channels { values[(k * height + y) * width + x] = Float(sample(k)) * scale }
                    }
                }
                swap(&previous, &line)
            }
        }
        return Image(channels: channels, height: height, width: width, values: values)
    }

    /// An image's channels as decoded (1 for grey, 3 otherwise), height and width, from its
    /// header alone (the first 33 bytes of the file), checked against the size caps.
    /// - Throws: `BundleError.data` naming the file and the rule.
    public static func dimensions(of url: URL) throws -> (channels: Int, height: Int, width: Int) {
        func fail(_ rule: String) -> BundleError { .data(file: url.path, rule: "not a valid PNG file: \(rule)") }
        let (fd, _) = try BoundedFile.openRegularFile(url)
        defer { close(fd) }
        var head = [UInt8](repeating: 0, count: 33)
        guard pread(fd, &head, 33, 0) == 33, head[0..<8] == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A],
              head[12..<16] == [0x49, 0x48, 0x44, 0x52] else { throw fail("it does not start with the PNG signature and an IHDR chunk") }
        let width = head[16..<20].reduce(0) { $0 << 8 | Int($1) }, height = head[20..<24].reduce(0) { $0 << 8 | Int($1) }
        guard width > 0, height > 0, width <= 16384, height <= 16384 else { throw fail("size \(width)×\(height) is outside 1…16384") }
        guard width * height <= maxPixels else { throw fail("size \(width)×\(height) has more than \(maxPixels) pixels (rule: image size cap; training images are small)") }
        let color = head[25]
        return (color == 0 || color == 4 ? 1 : 3, height, width)
    }

    /// The most pixels one image may have (4096×4096): checked on the header, before anything
    /// is allocated for the pixels.
    public static let maxPixels = 4096 * 4096

    /// zlib-format (RFC 1950) inflation of exactly `expected` bytes. The output grows as data
    /// arrives (a small file whose header declares a large image allocates no more than it
    /// really inflates to) and stops at `expected`.
    private static func inflateZlib(_ input: [UInt8], expected: Int, _ fail: (String) -> BundleError) throws -> [UInt8] {
        var output: [UInt8] = []
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { throw fail("zlib could not start") }
        defer { inflateEnd(&stream) }
        var input = input
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var status = Z_OK
        input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = UInt32(source.count)
            while status == Z_OK && output.count <= expected {
                status = chunk.withUnsafeMutableBufferPointer { target -> Int32 in
                    stream.next_out = target.baseAddress
                    stream.avail_out = UInt32(target.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                output.append(contentsOf: chunk[0..<(chunk.count - Int(stream.avail_out))])
                if status == Z_BUF_ERROR && stream.avail_in == 0 { break }  // the data ends before the stream does
                if status == Z_BUF_ERROR { status = Z_OK }
            }
        }
        guard status == Z_STREAM_END, output.count == expected else {
            throw fail(status == Z_DATA_ERROR ? "the compressed image data is corrupt"
                                              : "the image data does not inflate to the \(expected) bytes its header implies")
        }
        return output
    }
}
