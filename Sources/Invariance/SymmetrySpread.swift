import Foundation
import NN

/// The spread objective's reading of mirrors and quarter turns: how often, within a class, an
/// image is the mirror (or the transpose) of the class's common form. Each image's orientation
/// is the symmetry that brings it nearest its class's template; the template starts from the
/// class's exemplar (the image the others come nearest, each in its best orientation, so a class
/// half of whose images are mirrored still has one form to be read against), then is the mean of
/// the images each in its orientation, a few times over.
///
/// Per family, an image *shows* its orientation when the best orientation with the family
/// applied and the best without it differ by more than `margin` of the nearer distance (a
/// symmetric image, a 0 or a T-shirt, looks the same mirrored and says nothing). Among the
/// images of a class that show it, the share in the class's less common orientation is that
/// class's rate: ½ when it holds as many mirror images as not, 0 when none.
///
/// One probability serves every class, so it is what every class allows: when the classes'
/// rates agree (a χ² test of one common rate, 95%) it is their pooled rate; when they differ, it
/// is at most the smallest of their upper bounds (Wilson's, one-sided 95%). A class whose shapes
/// mirror into one another (MNIST's 8s and 9s under a left–right mirror: a slant mirrored is the
/// other slant; 17 of 82 and 24 of 75 in one reading) has a high rate; the 1s and 3s have none
/// (0 of 106, 0 of 104), a mirrored 3 is not a 3, and the mirror reads none. When almost no image shows its orientation, the
/// images look the same mirrored, and the mirror reads ½.
public struct SymmetrySpread {
    /// What the reading found, per family read.
    public struct Estimate: Sendable, Equatable {
        /// p ∈ [0, ½]: the probability the augmentation holds.
        public var probabilities: [SymmetryFamily: Float] = [:]
        /// The less common orientation's share among the images that show it, pooled over the classes.
        public var pooled: [SymmetryFamily: Float] = [:]
        /// Whether the classes' rates agree with one common rate (then p is the pooled rate).
        public var classesAgree: [SymmetryFamily: Bool] = [:]
        /// The share of the images read that show their orientation along the family.
        public var shown: [SymmetryFamily: Float] = [:]
        /// The 5th to the 95th percentile of p over resamples of the images read.
        public var bands: [SymmetryFamily: ClosedRange<Float>] = [:]
    }

    public var families: Set<SymmetryFamily>
    /// Gaussian blur of the images compared, standard deviation in pixels: the alignment's
    /// coarsest level. On Fashion-MNIST half mirrored (read before any alignment, the first
    /// design), 1 px left each garment's own offset mirrored in some of the images not undone
    /// (their translation read ±2.4 px against the source's ±2.0 px); 2 px read ±2.0 px and the
    /// mirror the same (docs/performance.md).
    public var blur: Float = 2
    /// How much nearer one orientation must bring an image than the other, as a fraction of the
    /// nearer squared distance, for the image to show its orientation.
    public var margin: Float = 0.1
    /// Times the template is made again from the images in their orientations.
    public var rounds = 4
    /// Images of a class tried as its exemplar, at most.
    public var exemplarCandidates = 24
    /// Below this share of the images read showing their orientation, the mirror reads ½.
    static let fewShown: Float = 0.05
    /// A probability below this is "none" (the report's headline reads it so): the images are not
    /// turned to their orientation along that family for the affine reading.
    public static let none: Float = 0.05

    public init(families: Set<SymmetryFamily>) { self.families = families }

    /// Reads `images` ([N, C, H, W], background 0) within `groups`; also returns the symmetry
    /// that turns each image to its class's form along the families read as more than none
    /// (the identity along the others), for the affine generators' alignment, which a class of
    /// mirror images would confuse (`orient`).
    public func read(_ images: [Float], channels c: Int, height h: Int, width w: Int, groups: [Int],
                     random: inout RandomGenerator) -> (estimate: Estimate, orientations: [SymmetryElement]) {
        let n = groups.count, plane = c * h * w
        let read = families.filter { $0.applies(height: h, width: w) }
        guard n > 1, !read.isEmpty else { return (Estimate(), [SymmetryElement](repeating: .identity, count: n)) }
        let blurred = PoseAlignment.blur(images, planes: n * c, height: h, width: w, sigma: blur)
        let elements = SymmetryElement.group(generatedBy: read)
        let sources = elements.map { Self.sourceIndices($0, channels: c, height: h, width: w) }
        let image = { (i: Int) in blurred[(i * plane)..<((i + 1) * plane)] }
        func distance(_ i: Int, _ e: Int, to template: ArraySlice<Float>) -> Float {
            let x = image(i), s = sources[e]
            var sum: Float = 0
            for q in 0..<plane { let d = x[x.startIndex + s[q]] - template[template.startIndex + q]; sum += d * d }
            return sum
        }
        // Templates: each class from its exemplar, then its members' mean in their orientations.
        let members = Dictionary(grouping: 0..<n) { groups[$0] }
        var templates: [Int: [Float]] = [:]
        for (g, indices) in members {
            var choosing = random.stream(UInt64(1000 + max(0, g)))
            let candidates = indices.count <= exemplarCandidates ? indices
                : Array(choosing.permutation(indices.count).prefix(exemplarCandidates).map { indices[$0] })
            let scores = candidates.map { j in
                indices.reduce(Float(0)) { sum, i in sum + elements.indices.map { distance(i, $0, to: image(j)) }.min()! }
            }
            let exemplar = candidates[scores.indices.min { scores[$0] < scores[$1] }!]
            var template = Array(image(exemplar))
            for _ in 0..<rounds {
                var sum = [Float](repeating: 0, count: plane)
                for i in indices {
                    let distances = elements.indices.map { distance(i, $0, to: template[...]) }
                    let e = distances.indices.min { distances[$0] < distances[$1] }!
                    let x = image(i), s = sources[e]
                    for q in 0..<plane { sum[q] += x[x.startIndex + s[q]] }
                }
                template = sum.map { $0 / Float(indices.count) }
            }
            templates[g] = template
        }
        // Each image's reading against its class's template.
        let readings = (0..<n).map { i in
            Self.orientation(elements.indices.map { distance(i, $0, to: templates[groups[i]]![...]) }, elements: elements, families: read, margin: margin)
        }
        var estimate = Estimate()
        let all = Array(0..<n)
        for family in SymmetryFamily.allCases where read.contains(family) {
            let result = Self.probability(family, images: all, groups: groups, readings: readings)
            estimate.probabilities[family] = result.p
            estimate.pooled[family] = result.pooled
            estimate.classesAgree[family] = result.classesAgree
            estimate.shown[family] = result.shown
            estimate.bands[family] = SpreadEstimator.band(images: n, random: random.stream(UInt64(2000 + family.index))) { drawn in
                Self.probability(family, images: drawn, groups: groups, readings: readings).p
            }
        }
        // Each image's way to its class's form along the families seen: every image, whether it
        // shows its orientation or not (a nearly symmetric one is still a little nearer its
        // class's form one way, its slant, which a mirror would turn the other way and the
        // affine reading take for spread).
        let seen = read.filter { (estimate.probabilities[$0] ?? 0) >= Self.none }
        let orientations = readings.map { reading in SymmetryElement(applying: seen.filter(reading.element.applies)) }
        return (estimate, orientations)
    }

    /// `images` ([N, C, H, W]) each moved by its element of `orientations`.
    public static func orient(_ images: [Float], _ orientations: [SymmetryElement], channels c: Int, height h: Int, width w: Int) -> [Float] {
        let plane = c * h * w
        var oriented = images
        for (i, element) in orientations.enumerated() where element != .identity {
            oriented.replaceSubrange((i * plane)..<((i + 1) * plane),
                                     with: element.apply(to: Array(images[(i * plane)..<((i + 1) * plane)]), planes: c, height: h, width: w))
        }
        return oriented
    }

    /// One image's reading: the element that brings it nearest its template, and the families
    /// along which the nearest with and the nearest without differ by more than the margin.
    struct Reading {
        var element: SymmetryElement
        var shows: Set<SymmetryFamily>
    }

    static func orientation(_ distances: [Float], elements: [SymmetryElement], families: Set<SymmetryFamily>, margin: Float) -> Reading {
        let best = distances.indices.min { distances[$0] < distances[$1] }!
        var shows: Set<SymmetryFamily> = []
        for family in families {
            let with = elements.indices.filter { elements[$0].applies(family) }.map { distances[$0] }.min() ?? .infinity
            let without = elements.indices.filter { !elements[$0].applies(family) }.map { distances[$0] }.min() ?? .infinity
            if abs(with - without) > margin * min(with, without) { shows.insert(family) }
        }
        return Reading(element: elements[best], shows: shows)
    }

    /// p for `family` from the readings of `images` (indices, repeats allowed): per class, the
    /// less common orientation's share among its images that show it; the pooled share when the
    /// classes agree, else at most the smallest upper bound; ½ when too few images show it.
    static func probability(_ family: SymmetryFamily, images: [Int], groups: [Int], readings: [Reading])
        -> (p: Float, pooled: Float, classesAgree: Bool, shown: Float) {
        var counts: [Int: (shown: Int, applied: Int)] = [:]
        for i in images where readings[i].shows.contains(family) {
            counts[groups[i], default: (0, 0)].shown += 1
            if readings[i].element.applies(family) { counts[groups[i], default: (0, 0)].applied += 1 }
        }
        let shownCount = counts.values.reduce(0) { $0 + $1.shown }
        let shown = Float(shownCount) / Float(max(1, images.count))
        guard shownCount >= 20, shown >= fewShown else { return (0.5, 0.5, true, shown) }
        // Classes with too few images that show it say little either way (their bound is wide).
        let classes = counts.values.filter { $0.shown >= 10 }.map { (shown: Double($0.shown), minority: Double(min($0.applied, $0.shown - $0.applied))) }
        let pooled = counts.values.reduce(0.0) { $0 + Double(min($1.applied, $1.shown - $1.applied)) } / Double(shownCount)
        guard classes.count > 1 else { return (Float(pooled), Float(pooled), true, shown) }
        // χ² of one common rate over the classes (df = classes − 1), against its 95th percentile.
        let rate = classes.reduce(0.0) { $0 + $1.minority } / classes.reduce(0.0) { $0 + $1.shown }
        let statistic = classes.reduce(0.0) { sum, c in
            let expected = c.shown * rate
            return sum + (c.minority - expected) * (c.minority - expected) / max(1e-9, expected * (1 - rate))
        }
        if statistic < SpreadEstimator.chiSquareQuantile95(degreesOfFreedom: Double(classes.count - 1)) { return (Float(pooled), Float(pooled), true, shown) }
        let bound = classes.map { wilsonUpperBound(successes: $0.minority, trials: $0.shown) }.min()!
        return (Float(min(pooled, bound)), Float(pooled), false, shown)
    }

    /// The one-sided 95% upper bound of a rate seen `successes` times in `trials` (Wilson's score interval).
    static func wilsonUpperBound(successes: Double, trials: Double) -> Double {
        let z = 1.6449, p = successes / trials, z2 = z * z
        return (p + z2 / (2 * trials) + z * (p * (1 - p) / trials + z2 / (4 * trials * trials)).squareRoot()) / (1 + z2 / trials)
    }

    /// For each position of a plane of `channels` × `height` × `width`, the position `element`
    /// takes its value from (`SymmetryElement.apply`).
    static func sourceIndices(_ element: SymmetryElement, channels c: Int, height h: Int, width w: Int) -> [Int] {
        let positions = (0..<(c * h * w)).map(Float.init)
        return element.apply(to: positions, planes: c, height: h, width: w).map { Int($0) }
    }
}
