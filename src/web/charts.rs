//! Server-drawn charts: geometry for inline SVG (rendered by askama templates, so every
//! label is escaped). No script, no CDN; each chart also has a table for screen readers.

/// One bar, in SVG user units.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    pub class: &'static str,
    pub title: String,
}

/// A text label at a position.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub x: f64,
    pub y: f64,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chart {
    pub width: f64,
    pub height: f64,
    pub bars: Vec<Bar>,
    pub x_labels: Vec<Label>,
    pub y_labels: Vec<Label>,
    pub grid: Vec<f64>,
}

const LEFT: f64 = 40.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 10.0;

/// A "nice" upper bound for the axis and its step.
fn axis(max: i64) -> (i64, i64) {
    let max = max.max(1);
    let raw = (max as f64 / 4.0).ceil().max(1.0);
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(raw) as i64;
    let step = step.max(1);
    (((max + step - 1) / step) * step, step)
}

/// Two bars a day: opened and closed.
pub fn opened_closed(days: &[(String, i64, i64)], opened_word: &str) -> Chart {
    opened_closed_in(days, opened_word, 720.0, 8)
}

/// The same chart drawn for a phone (about 360 px): the same 11-unit labels then show at
/// about their real size instead of shrinking to half, with fewer day labels.
pub fn opened_closed_narrow(days: &[(String, i64, i64)], opened_word: &str) -> Chart {
    opened_closed_in(days, opened_word, 360.0, 4)
}

fn opened_closed_in(
    days: &[(String, i64, i64)],
    opened_word: &str,
    width: f64,
    labels: usize,
) -> Chart {
    let height = 220.0;
    let max = days.iter().map(|(_, o, c)| (*o).max(*c)).max().unwrap_or(0);
    let (top, step) = axis(max);
    let plot_h = height - TOP - BOTTOM;
    let slot = (width - LEFT - 8.0) / days.len().max(1) as f64;
    let bar_w = (slot / 2.0 - 1.0).max(1.0);
    let scale = |v: i64| v as f64 / top as f64 * plot_h;
    let mut chart = Chart {
        width,
        height,
        ..Chart::default()
    };
    let mut v = 0;
    while v <= top {
        let y = TOP + plot_h - scale(v);
        chart.grid.push(y);
        chart.y_labels.push(Label {
            x: LEFT - 6.0,
            y: y + 4.0,
            text: v.to_string(),
        });
        v += step;
    }
    let every = days.len().div_ceil(labels.max(1)).max(1);
    for (i, (label, opened, closed)) in days.iter().enumerate() {
        let x = LEFT + i as f64 * slot;
        chart.bars.push(Bar {
            x,
            y: TOP + plot_h - scale(*opened),
            w: bar_w,
            h: scale(*opened),
            class: "bar-opened",
            title: format!("{label}: {opened} {opened_word}"),
        });
        chart.bars.push(Bar {
            x: x + bar_w + 1.0,
            y: TOP + plot_h - scale(*closed),
            w: bar_w,
            h: scale(*closed),
            class: "bar-closed",
            title: format!("{label}: {closed} cerradas"),
        });
        if i % every == 0 {
            chart.x_labels.push(Label {
                x: x + slot / 2.0,
                y: height - 6.0,
                text: label.chars().take(5).collect(),
            });
        }
    }
    chart
}

/// Horizontal bars, one per category (e.g. tickets by status).
pub fn horizontal(items: &[(String, &'static str, i64)]) -> Chart {
    horizontal_in(items, 720.0)
}

/// The same bars drawn for a phone (about 360 px wide).
pub fn horizontal_narrow(items: &[(String, &'static str, i64)]) -> Chart {
    horizontal_in(items, 360.0)
}

fn horizontal_in(items: &[(String, &'static str, i64)], width: f64) -> Chart {
    let row = 30.0;
    let label_w = 150.0; // room for "Esperando al usuario"
    let height = row * items.len().max(1) as f64 + 10.0;
    let max = items.iter().map(|(_, _, n)| *n).max().unwrap_or(0).max(1);
    let plot_w = width - label_w - 60.0;
    let mut chart = Chart {
        width,
        height,
        ..Chart::default()
    };
    for (i, (label, class, n)) in items.iter().enumerate() {
        let y = 5.0 + i as f64 * row;
        let w = *n as f64 / max as f64 * plot_w;
        chart.y_labels.push(Label {
            x: label_w - 8.0,
            y: y + 19.0,
            text: label.clone(),
        });
        chart.bars.push(Bar {
            x: label_w,
            y: y + 4.0,
            w: w.max(1.0),
            h: row - 8.0,
            class,
            title: format!("{label}: {n}"),
        });
        chart.x_labels.push(Label {
            x: label_w + w + 6.0,
            y: y + 19.0,
            text: n.to_string(),
        });
    }
    chart
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_rounds_up_to_a_nice_step() {
        assert_eq!(axis(0), (1, 1));
        assert_eq!(axis(7), (8, 2));
        assert_eq!(axis(95), (100, 50));
        let (top, step) = axis(1234);
        assert!(top >= 1234 && top % step == 0);
    }

    #[test]
    fn bars_scale_to_the_tallest_day() {
        let c = opened_closed(
            &[("01/11".into(), 4, 2), ("02/11".into(), 0, 4)],
            "abiertas",
        );
        assert_eq!(c.bars.len(), 4);
        let tallest = c.bars.iter().map(|b| b.h).fold(0.0, f64::max);
        assert!((tallest - (220.0 - TOP - BOTTOM)).abs() < 1e-9);
        assert_eq!(c.bars[2].h, 0.0);
    }

    #[test]
    fn the_phone_chart_fits_its_width_with_fewer_labels() {
        let days: Vec<(String, i64, i64)> = (1..=30)
            .map(|d| (format!("{d:02}/11/2026"), d, 30 - d))
            .collect();
        let wide = opened_closed(&days, "abiertas");
        let narrow = opened_closed_narrow(&days, "abiertas");
        assert_eq!(narrow.width, 360.0);
        assert!(narrow.bars.iter().all(|b| b.x + b.w <= narrow.width));
        assert!(narrow.x_labels.len() <= 4 && wide.x_labels.len() <= 8);
        assert!(narrow.x_labels.len() >= 3);
        let bars = horizontal_narrow(&[("Nuevo".into(), "bar-nuevo", 5)]);
        assert!(bars.bars.iter().all(|b| b.x + b.w <= bars.width));
    }
}
