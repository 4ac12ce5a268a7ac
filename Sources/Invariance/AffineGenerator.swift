/// The six generators of 2-D affine transformations, on normalised homogeneous coordinates
/// (x, y, 1) with x, y ∈ [−1, 1], in the reference implementation's order and scaling.
public enum AffineGenerator: String, CaseIterable, Codable, Sendable {
    case translateX = "translate_x"
    case translateY = "translate_y"
    case rotation
    case scale
    case stretch
    case shear

    /// Position in the parameter vector.
    public var index: Int { AffineGenerator.allCases.firstIndex(of: self)! }

    /// The 3×3 generator matrix, row-major: translations carry the reference's factor 0.1.
    public var matrix: [Float] {
        switch self {
        case .translateX: return [0, 0, 0.1, 0, 0, 0, 0, 0, 0]
        case .translateY: return [0, 0, 0, 0, 0, 0.1, 0, 0, 0]
        case .rotation: return [0, -1, 0, 1, 0, 0, 0, 0, 0]
        case .scale: return [1, 0, 0, 0, 1, 0, 0, 0, 0]
        case .stretch: return [1, 0, 0, 0, -1, 0, 0, 0, 0]
        case .shear: return [0, 1, 0, 1, 0, 0, 0, 0, 0]
        }
    }

    /// Root-mean-square displacement of a point of the normalised square [−1, 1]² per unit ε,
    /// relative to rotation's √(2/3): 0.1/√(2/3) for the translations, 1 for the others.
    public var displacement: Float {
        switch self {
        case .translateX, .translateY: return 0.1 / (2.0 / 3.0).squareRoot()
        case .rotation, .scale, .stretch, .shear: return 1
        }
    }

    /// All six generators as one [6, 9] matrix (row k is generator k).
    public static var stacked: [Float] { allCases.flatMap(\.matrix) }
}
