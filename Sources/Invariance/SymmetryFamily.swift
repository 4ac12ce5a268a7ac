import Foundation

/// The mirror and quarter-turn symmetries a learned distribution can hold beside the affine
/// generators: the three reflections that generate the dihedral group of the square. Each is
/// applied with a learned probability p ∈ [0, ½] (`SymmetryAugmentation`); drawn together they
/// reach all eight of the square's symmetries (transpose then a mirror is a quarter turn).
/// A reflection is an affine map with determinant −1 on the normalised coordinates, so the warp
/// applies it with the learned affine transformation in one pass.
public enum SymmetryFamily: String, CaseIterable, Codable, Sendable {
    /// Left and right swapped: x → −x.
    case horizontalFlip = "horizontal_flip"
    /// Top and bottom swapped: y → −y.
    case verticalFlip = "vertical_flip"
    /// Rows and columns swapped: (x, y) → (y, x). Square images only.
    case transpose

    /// Position in the parameter vector.
    public var index: Int { SymmetryFamily.allCases.firstIndex(of: self)! }

    /// The map on normalised coordinates (x, y), row-major [a, b, c, d]: (x, y) → (a·x + b·y, c·x + d·y).
    public var matrix: [Float] {
        switch self {
        case .horizontalFlip: return [-1, 0, 0, 1]
        case .verticalFlip: return [1, 0, 0, -1]
        case .transpose: return [0, 1, 1, 0]
        }
    }

    /// Whether the family acts on images of `height` × `width` pixels: a transpose needs a square.
    public func applies(height: Int, width: Int) -> Bool { self != .transpose || height == width }

    /// Why the family is left out for images of `height` × `width` (nil when it applies).
    public func leftOutBecause(height: Int, width: Int) -> String? {
        applies(height: height, width: width) ? nil
            : "transpose needs square images; these are \(height)×\(width) pixels (height × width)"
    }

    /// The words a person reads: "horizontal mirror", "vertical mirror", "transpose".
    public var noun: String {
        switch self {
        case .horizontalFlip: return "horizontal mirror"
        case .verticalFlip: return "vertical mirror"
        case .transpose: return "transpose"
        }
    }
}

/// One of the symmetries the named families reach: which reflections are applied, horizontal
/// flip ∘ vertical flip ∘ transpose in that order (each at most once), so every element of the
/// square's group has exactly one set of bits. The image it makes samples the original at
/// `matrix`·q: out(q) = image(H^a V^b T^c q).
public struct SymmetryElement: Hashable, Sendable {
    /// Whether each family (by `SymmetryFamily.index`) is applied.
    public var applied: [Bool]

    public init(_ applied: [Bool]) {
        precondition(applied.count == SymmetryFamily.allCases.count, "a symmetry element has one bit per family")
        self.applied = applied
    }

    /// The element that applies exactly `families`.
    public init(applying families: Set<SymmetryFamily>) { self.init(SymmetryFamily.allCases.map(families.contains)) }

    public static let identity = SymmetryElement([false, false, false])

    /// Every element the `families` reach (2^count of them), the identity first.
    public static func reached(by families: Set<SymmetryFamily>) -> [SymmetryElement] {
        let named = SymmetryFamily.allCases.filter(families.contains)
        return (0..<(1 << named.count)).map { bits in
            var applied = [false, false, false]
            for (j, family) in named.enumerated() where bits & (1 << j) != 0 { applied[family.index] = true }
            return SymmetryElement(applied)
        }
    }

    /// The group the `families` generate: those they reach, and their products (a transpose
    /// with one mirror reaches four elements and generates all eight: the quarter turns both ways).
    public static func group(generatedBy families: Set<SymmetryFamily>) -> [SymmetryElement] {
        var elements = reached(by: families)
        var grown = true
        while grown {
            grown = false
            for a in elements { for b in elements where !elements.contains(a.product(b)) { elements.append(a.product(b)); grown = true } }
        }
        return elements
    }

    /// Whether `family` is applied.
    public func applies(_ family: SymmetryFamily) -> Bool { applied[family.index] }

    /// The 2×2 map on normalised coordinates, row-major: H^a·V^b·T^c.
    public var matrix: [Int] {
        var m = [1, 0, 0, 1]
        for family in SymmetryFamily.allCases where applies(family) {
            let f = family.matrix.map { Int($0) }
            m = [m[0] * f[0] + m[1] * f[2], m[0] * f[1] + m[1] * f[3], m[2] * f[0] + m[3] * f[2], m[2] * f[1] + m[3] * f[3]]
        }
        return m
    }

    /// The element whose matrix is `matrix` (one of the group's eight).
    public init(matrix: [Int]) {
        guard let found = Self.reached(by: Set(SymmetryFamily.allCases)).first(where: { $0.matrix == matrix }) else {
            preconditionFailure("\(matrix) is not a symmetry of the square")
        }
        self = found
    }

    /// The element whose matrix is `self`·`other` (image(self·other·q): `other` moves the
    /// coordinates first).
    public func product(_ other: SymmetryElement) -> SymmetryElement {
        let (a, b) = (matrix, other.matrix)
        return SymmetryElement(matrix: [a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3], a[2] * b[0] + a[3] * b[2], a[2] * b[1] + a[3] * b[3]])
    }

    /// For a turn (the identity, the half turn, the two quarter turns: determinant +1), its angle
    /// in the warp's terms: the element's image is the image turned by this ε of rotation
    /// (`AffineGenerator.rotation`, which samples at R(ε)·q). Nil for a reflection.
    public var turnAngle: Float? {
        let m = matrix
        guard m[0] * m[3] - m[1] * m[2] == 1 else { return nil }
        return atan2(Float(m[2]), Float(m[0]))
    }

    /// The inverse element (the matrix's transpose: the group's matrices are orthogonal).
    public var inverse: SymmetryElement { let m = matrix; return SymmetryElement(matrix: [m[0], m[2], m[1], m[3]]) }

    /// `images` ([N, C, H, W] values) with every plane moved by this element: out(q) = image(M q),
    /// exactly (a permutation of the pixels; a transpose needs H = W).
    public func apply(to images: [Float], planes: Int, height: Int, width: Int) -> [Float] {
        if self == .identity { return images }
        precondition(!applies(.transpose) || height == width, "a transpose needs square images")
        let m = matrix, plane = height * width
        // Pixel (row y, column x) sits at normalised (x, y) with x = 2·x/(W − 1) − 1: a sign
        // flips an index into its mirror, a swap exchanges row and column.
        var source = [Int](repeating: 0, count: plane)
        for y in 0..<height { for x in 0..<width {
            let (u, v) = (2 * x - (width - 1), 2 * y - (height - 1))  // twice the centred position
            let (su, sv) = (m[0] * u + m[1] * v, m[2] * u + m[3] * v)
            source[y * width + x] = ((sv + height - 1) / 2) * width + (su + width - 1) / 2
        } }
        var out = [Float](repeating: 0, count: images.count)
        for p in 0..<planes {
            let base = p * plane
            for i in 0..<plane { out[base + i] = images[base + source[i]] }
        }
        return out
    }
}
