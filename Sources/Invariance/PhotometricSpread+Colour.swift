import Foundation
import NN

/// The colour half of the photometric reading: hue and saturation, for three-channel images.
///
/// A hue turn (`Kernels/PhotometricAdjust`) moves every pixel's hue by the same η and keeps its
/// saturation and value, so an image's hue pose is the turn that lays its hue histogram (each
/// pixel weighted by its chroma, largest channel less smallest; the gray background weighs
/// nothing) onto another's (`hueTurn`): first against its class's first member, then against what
/// its values make of its class's exemplar. The chroma-weighted mean angle would move by η too, but
/// where a sprite has several colours, clamping changes how much each weighs and moves their mean
/// angle, not the histogram's peaks (Mario saturated ×1.5 moved the mean by 0.41 rad; sprites
/// brightened within ±40% read ±7° of hue by it). Saturation multiplies each pixel's
/// chroma by σ and keeps its gray, while brightness and contrast multiply chroma and gray's
/// distance from their mean alike, so an image's saturation pose is
/// log(Σ chroma / Σ |gray − mean gray|) over its coloured pixels (chroma above `inkMargin`),
/// read with the image turned back by its hue pose (a turn moves the grays): σ moves it by log σ;
/// hue, brightness and contrast not at all where nothing is clamped. The spread within a class is
/// read as for the other families (hue on the circle, as rotation), with pairs adjusted by a
/// known δ for the error and the gain. An image without colour (chroma summing to less than 10⁻³
/// of its pixels) has no hue nor saturation to read and is left out.
extension PhotometricSpread {
    /// The pairs' hue turn: uniform in ±this, radians (the reading is exact under a turn, so its
    /// size matters little).
    static let hueRange: Float = 10 * .pi / 180

    /// One image's log-saturation ratio (`saturationRatio`), read with the image turned back by
    /// `turn` (its hue pose against its class's prediction, `hueTurn`): a turn moves each pixel's
    /// gray (the channels weigh differently in it), so images are compared at one hue. Nil
    /// without colour.
    static func saturationPose(_ image: [Float], plane: Int, turn: Float) -> Float? {
        let turned = transform(Tensor(shape: [1, 3, 1, plane], values: image), by: .hue, epsilon: -turn, gain: 1, offset: 0).values
        return saturationRatio(turned, plane: plane)
    }

    /// One pixel's hue as torchvision computes it, in sixths of the circle ([0, 6): the largest
    /// channel picks the sector), and its chroma (largest channel less smallest); nil for a gray.
    @inline(__always)
    static func pixelHue(_ r: Float, _ g: Float, _ b: Float) -> (sixths: Float, chroma: Float)? {
        let maximum = max(r, g, b), chroma = maximum - min(r, g, b)
        guard chroma > 0 else { return nil }
        let sixths = maximum == r ? (g - b) / chroma : maximum == g ? 2 + (b - r) / chroma : 4 + (r - g) / chroma
        return (sixths < 0 ? sixths + 6 : sixths, chroma)
    }

    /// Bins of `hueHistogram` on the circle.
    static let hueBins = 180

    /// The pixels' hues as a histogram on the circle (`hueBins` bins), each pixel weighing its
    /// chroma, shared between the two nearest bins and then smoothed (a circular kernel of ±3
    /// bins); nil when the chroma sums to less than 10⁻³ per pixel.
    static func hueHistogram(_ image: [Float], plane: Int) -> [Double]? {
        var raw = [Double](repeating: 0, count: hueBins), chromaSum = 0.0
        for i in 0..<plane {
            guard let (sixths, chroma) = pixelHue(image[i], image[plane + i], image[2 * plane + i]) else { continue }
            let position = Double(sixths) / 6 * Double(hueBins)
            let low = Int(position) % hueBins, t = position - Double(Int(position))
            raw[low] += Double(chroma) * (1 - t)
            raw[(low + 1) % hueBins] += Double(chroma) * t
            chromaSum += Double(chroma)
        }
        guard chromaSum >= 1e-3 * Double(plane) else { return nil }
        let kernel = [1.0, 3, 6, 7, 6, 3, 1]
        return (0..<hueBins).map { b in kernel.indices.reduce(0.0) { $0 + kernel[$1] * raw[(b + $1 - 3 + hueBins) % hueBins] } }
    }

    /// The turn η (radians, in (−π, π]) that best brings the hue histogram `reference` onto
    /// `image`'s: the peak of their circular cross-correlation, refined by a parabola through
    /// it and its two neighbours. Unlike the difference of the chroma-weighted mean angles, it
    /// does not move when clamping changes how much each of several colours weighs.
    static func hueTurn(of image: [Double], from reference: [Double]) -> Float {
        let n = image.count
        let correlation = (0..<n).map { s in (0..<n).reduce(0.0) { $0 + image[($1 + s) % n] * reference[$1] } }
        let peak = correlation.indices.max { correlation[$0] < correlation[$1] }!
        let (before, at, after) = (correlation[(peak + n - 1) % n], correlation[peak], correlation[(peak + 1) % n])
        let curvature = before - 2 * at + after
        let offset = curvature < 0 ? 0.5 * (before - after) / curvature : 0
        let turn = (Double(peak) + offset) / Double(n) * 2 * .pi
        return Float(atan2(sin(turn), cos(turn)))
    }

    /// log(Σ chroma / Σ |gray − mean gray|) over the coloured pixels (chroma above `inkMargin`):
    /// a gray background, or one that contrast clamps at black, counts in neither sum, and
    /// contrast moves every coloured pixel's gray away from their mean by κ as it moves the
    /// chroma. Nil without coloured pixels, or when their gray is all one.
    static func saturationRatio(_ image: [Float], plane: Int) -> Float? {
        let chroma = (0..<plane).map { i in Double(max(image[i], image[plane + i], image[2 * plane + i]) - min(image[i], image[plane + i], image[2 * plane + i])) }
        let gray = (0..<plane).map { i in (0..<3).reduce(0.0) { $0 + rgbGray[$1] * Double(image[$1 * plane + i]) } }
        let ink = (0..<plane).filter { chroma[$0] > inkMargin }
        let meanGray = ink.reduce(0) { $0 + gray[$1] } / Double(max(1, ink.count))
        let inkChroma = ink.reduce(0) { $0 + chroma[$1] }, grayDistance = ink.reduce(0) { $0 + abs(gray[$1] - meanGray) }
        guard inkChroma > 0, grayDistance > 0 else { return nil }
        return Float(log(inkChroma / grayDistance))
    }

    /// Each image's hue against its class's first member with colour: the turn between their
    /// hue histograms (`hueTurn`), as the colour poses against an exemplar; nil for an image
    /// without colour. Each image's chroma-weighted mean angle, read before, moved wherever
    /// clipping reweighs a sprite's colours: with no hue planted, sprites brightened within ±20%
    /// or ±40%, contrast ×1.3 or ×1.6, gamma ×1.3 or ×1.6 or the three together read the hue
    /// θ 0.11–0.27 by it (±3°–±8°; past "none" in 8 of 14 reads), and every image was turned
    /// back by that before its values were fitted; by the histograms θ 0.03–0.07
    /// (docs/performance.md, session 38).
    static func huesAgainstClass(_ image: (Int) -> [Float], count: Int, plane: Int, groups: [Int]) -> [Float?] {
        let histograms = (0..<count).map { hueHistogram(image($0), plane: plane) }
        var firstMembers: [Int: [Double]] = [:]
        for (histogram, g) in zip(histograms, groups) where firstMembers[g] == nil { firstMembers[g] = histogram }
        return (0..<count).map { row in histograms[row].map { hueTurn(of: $0, from: firstMembers[groups[row]]!) } }
    }

    /// What brings each image to its class's colour: (log σ, η) from its colour pose to the
    /// class's (the mean log-saturation ratio, the circular mean hue); (0, 0) for an image
    /// without colour.
    static func colourUndo(_ poses: [(hue: Float, saturation: Float)?], groups: [Int]) -> [(Float, Float)] {
        var sums: [Int: (x: Double, y: Double, saturation: Double, count: Int)] = [:]
        for (pose, g) in zip(poses, groups) {
            guard let pose else { continue }
            sums[g, default: (0, 0, 0, 0)].x += cos(Double(pose.hue))
            sums[g, default: (0, 0, 0, 0)].y += sin(Double(pose.hue))
            sums[g, default: (0, 0, 0, 0)].saturation += Double(pose.saturation)
            sums[g, default: (0, 0, 0, 0)].count += 1
        }
        return zip(poses, groups).map { pose, g in
            guard let pose, let sum = sums[g] else { return (0, 0) }
            let turn = Float(atan2(sum.y, sum.x)) - pose.hue
            return (Float(sum.saturation / Double(sum.count)) - pose.saturation, atan2(sin(turn), cos(turn)))
        }
    }

    /// Hue and saturation read from the images' colour poses and their pairs' (`colourPose` of
    /// each image and of the image adjusted by `deltas`: log σ, η), into `estimate`.
    func readColour(plain: [(hue: Float, saturation: Float)?], moved: [(hue: Float, saturation: Float)?], deltas: [(Float, Float)],
                    groups allGroups: [Int], random: RandomGenerator, into estimate: inout Estimate) {
        let kept = plain.indices.filter { plain[$0] != nil && moved[$0] != nil }
        let groups = kept.map { allGroups[$0] }
        for family in [PhotometricFamily.saturation, .hue] {
            guard estimated.contains(family) else { continue }
            let isHue = family == .hue
            let poses = kept.map { isHue ? plain[$0]!.hue : plain[$0]!.saturation }
            let applied = kept.map { Double(isHue ? deltas[$0].1 : deltas[$0].0) }
            let changes = kept.map { i -> Double in
                let change = isHue ? moved[i]!.hue - plain[i]!.hue : moved[i]!.saturation - plain[i]!.saturation
                return Double(isHue ? atan2(sin(change), cos(change)) : change)
            }
            let gain = kept.count < 3 ? 0 : SpreadEstimator.theilSen(applied, changes)
            let read = { (drawn: [Int]) -> (width: Float, raw: Float, error: Float) in
                if isHue {
                    return SpreadEstimator.reading(.rotation, poses: drawn.map { poses[$0] }, groups: drawn.map { groups[$0] },
                                                   deltas: drawn.map { applied[$0] }, changes: drawn.map { changes[$0] }, gain: gain)
                }
                return Self.reading(poses: drawn.map { poses[$0] }, groups: drawn.map { groups[$0] }, deltas: drawn.map { [applied[$0]] },
                                    family: 0, changes: drawn.map { changes[$0] }, gain: gain)
            }
            // No image with colour, or a reading that does not follow a known change, reads as none.
            estimate.record(family, read(Array(kept.indices)), gain: gain) {
                SpreadEstimator.band(images: kept.count, random: random.stream(UInt64(32 + family.index))) { read($0).width }
            }
        }
    }
}
