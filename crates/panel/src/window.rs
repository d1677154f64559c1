//! The settings window: plain Win32 controls, per-monitor DPI aware, laid out and lettered
//! for the window's DPI and re-laid out when it changes.
//!
//! One UI thread. The application state lives in a thread-local and is never borrowed while
//! a Win32 call could re-enter the window procedure (message boxes run modal loops; setting a
//! static's text asks the parent for colours).

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::path::PathBuf;

use json_lite::Json;

use wasio_engine::config::{default_config_path, Config};
use wasio_engine::status::{now_unix_ms, read_status_dir, status_dir};
use wasio_wasapi::{list_endpoints, process_alive, EndpointDetails, EndpointState, Flow};
use windows::core::{w, PCWSTR};
use windows::Win32::Foundation::{COLORREF, HINSTANCE, HWND, LPARAM, LRESULT, RECT, WPARAM};
use windows::Win32::Graphics::Gdi::{
    CreateFontIndirectW, DeleteObject, GetSysColorBrush, SetBkMode, SetTextColor, UpdateWindow,
    COLOR_BTNFACE, HBRUSH, HDC, HFONT, HGDIOBJ, TRANSPARENT,
};
use windows::Win32::System::LibraryLoader::GetModuleHandleW;
use windows::Win32::UI::HiDpi::{
    AdjustWindowRectExForDpi, GetDpiForWindow, SetProcessDpiAwarenessContext,
    SystemParametersInfoForDpi, DPI_AWARENESS_CONTEXT_PER_MONITOR_AWARE_V2,
};
use windows::Win32::UI::WindowsAndMessaging::*;

use crate::form::{problems, Choices, Endpoint, Selection};
use crate::tone;

const ID_OUTPUT: i32 = 101;
const ID_INPUT: i32 = 102;
const ID_MODE: i32 = 103;
const ID_SAMPLE_TYPE: i32 = 104;
const ID_BUFFER: i32 = 105;
const ID_RATE: i32 = 106;
const ID_CHANNELS: i32 = 107;
const ID_PROBLEMS: i32 = 201;
const ID_FILE: i32 = 202;
const ID_STATUS: i32 = 203;
const ID_TONE: i32 = 301;
const ID_SAVE: i32 = 302;
const ID_CLOSE: i32 = 303;
/// Labels of the pickers are 401…407, in picker order.
const ID_LABEL_BASE: i32 = 400;

/// Static control styles (winuser.h), as plain bits.
const SS_LEFT: u32 = 0x0000;
const SS_NOPREFIX: u32 = 0x0080;

const TIMER_STATUS: usize = 1;
const TIMER_HOLD: usize = 2;
const STATUS_PERIOD_MS: u32 = 500;
/// Posted by the tone thread: WPARAM 1 when the tone played, 0 when it failed.
const WM_TONE_DONE: u32 = WM_APP + 1;

/// The pickers: ID, label.
const PICKERS: [(i32, &str); 7] = [
    (ID_OUTPUT, "Output device"),
    (ID_INPUT, "Input device"),
    (ID_MODE, "Mode"),
    (ID_SAMPLE_TYPE, "Sample type"),
    (ID_BUFFER, "Buffer size"),
    (ID_RATE, "Sample rate"),
    (ID_CHANNELS, "Output channels"),
];

/// Layout at 96 DPI, in pixels; scaled by the window's DPI.
mod layout {
    pub const MARGIN: i32 = 12;
    pub const LABEL_WIDTH: i32 = 130;
    pub const GAP: i32 = 8;
    pub const PICKER_WIDTH: i32 = 340;
    pub const ROW_PITCH: i32 = 30;
    pub const PICKER_HEIGHT: i32 = 23;
    /// The drop-down list's height (part of a combo box's window height).
    pub const DROP_HEIGHT: i32 = 220;
    pub const CONTENT_WIDTH: i32 = LABEL_WIDTH + GAP + PICKER_WIDTH;
    pub const PROBLEMS_TOP: i32 = MARGIN + 7 * ROW_PITCH + 4;
    pub const PROBLEMS_HEIGHT: i32 = 48;
    pub const FILE_TOP: i32 = PROBLEMS_TOP + PROBLEMS_HEIGHT + 4;
    pub const FILE_HEIGHT: i32 = 34;
    pub const STATUS_TOP: i32 = FILE_TOP + FILE_HEIGHT + 4;
    pub const STATUS_HEIGHT: i32 = 34;
    pub const BUTTONS_TOP: i32 = STATUS_TOP + STATUS_HEIGHT + 8;
    pub const BUTTON_WIDTH: i32 = 100;
    pub const BUTTON_HEIGHT: i32 = 26;
    pub const CLIENT_WIDTH: i32 = MARGIN + CONTENT_WIDTH + MARGIN;
    pub const CLIENT_HEIGHT: i32 = BUTTONS_TOP + BUTTON_HEIGHT + MARGIN;
    pub const FONT_POINTS: i32 = 9;
}

struct App {
    config_path: PathBuf,
    /// The file as loaded (keys the panel does not show are kept when saving).
    config: Config,
    choices: Choices,
    /// Problem with the file as it was on disk, shown until the user saves.
    load_problem: Option<String>,
    /// The file exists but could not be read: saving replaces it, so ask first.
    file_unreadable: bool,
    note: String,
    font: HFONT,
    tone_playing: bool,
}

thread_local! {
    static APP: RefCell<Option<App>> = const { RefCell::new(None) };
    /// The problems label, coloured red in WM_CTLCOLORSTATIC without borrowing APP.
    static PROBLEMS_LABEL: Cell<isize> = const { Cell::new(0) };
}

fn with_app<R>(f: impl FnOnce(&mut App) -> R) -> Option<R> {
    APP.with(|app| {
        app.try_borrow_mut()
            .ok()
            .and_then(|mut a| a.as_mut().map(f))
    })
}

/// Options of the command line.
struct Options {
    config_path: Option<PathBuf>,
    self_check: bool,
    hold_seconds: f64,
    /// `--test-tone`: play the test tone (on `--device`, else the default) and exit.
    test_tone: bool,
    device: Option<String>,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        config_path: None,
        self_check: false,
        hold_seconds: 0.0,
        test_tone: false,
        device: None,
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--config" => {
                options.config_path =
                    Some(PathBuf::from(iter.next().ok_or("--config needs a path")?))
            }
            "--self-check" => options.self_check = true,
            "--test-tone" => options.test_tone = true,
            "--device" => {
                options.device = Some(iter.next().ok_or("--device needs an endpoint ID")?.clone())
            }
            "--hold" => {
                options.hold_seconds = iter
                    .next()
                    .and_then(|s| s.parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .ok_or("--hold needs a number of seconds")?
            }
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    Ok(options)
}

fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(std::iter::once(0)).collect()
}

fn scale(value: i32, dpi: u32) -> i32 {
    (value as i64 * dpi as i64 / 96) as i32
}

fn to_endpoint(e: &EndpointDetails) -> Endpoint {
    Endpoint {
        id: e.id.clone(),
        name: e.name.clone(),
        is_default: e.is_default,
        mix: e.mix_format,
        exclusive: e.exclusive_formats.clone(),
    }
}

fn active_endpoints(flow: Flow) -> (Vec<Endpoint>, Option<String>) {
    match list_endpoints(flow) {
        Ok(list) => (
            list.iter()
                .filter(|e| e.state == EndpointState::Active)
                .map(to_endpoint)
                .collect(),
            None,
        ),
        Err(error) => (
            Vec::new(),
            Some(format!("cannot list the devices: {error}")),
        ),
    }
}

const USAGE: &str =
    "usage: wasio-panel [--config PATH] [--self-check [--hold SECONDS]] | --test-tone [--device ID]";

/// Runs the panel; returns the exit code.
pub fn main(args: Vec<String>) -> i32 {
    let options = match parse_options(&args) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("wasio-panel: {error}\n{USAGE}");
            return 2;
        }
    };
    if options.test_tone {
        return match tone::play(options.device.as_deref()) {
            Ok(()) => {
                println!(
                    "test tone played: {} Hz for {} s",
                    tone::TONE_HZ,
                    tone::TONE_SECONDS
                );
                0
            }
            Err(error) => {
                eprintln!("wasio-panel: test tone failed: {error}");
                1
            }
        };
    }
    // Per-monitor DPI awareness (v2) before any window exists; older systems keep the
    // manifest-free default, and the layout still follows GetDpiForWindow.
    // SAFETY: process-wide setting, called once before any window is created.
    let _ = unsafe { SetProcessDpiAwarenessContext(DPI_AWARENESS_CONTEXT_PER_MONITOR_AWARE_V2) };

    let config_path = options.config_path.clone().unwrap_or_else(|| {
        let profile = std::env::var_os("USERPROFILE").unwrap_or_default();
        default_config_path(std::path::Path::new(&profile))
    });
    let (config, load_problem) = match Config::load(&config_path) {
        Ok(config) => (config.unwrap_or_default(), None),
        Err(error) => (
            Config::default(),
            Some(format!(
                "The file could not be read, defaults are shown: {error}"
            )),
        ),
    };
    let file_unreadable = load_problem.is_some();
    let (render, render_problem) = active_endpoints(Flow::Render);
    let (capture, _) = active_endpoints(Flow::Capture);
    let (choices, selection) = Choices::new(&render, &capture, &config);
    APP.with(|app| {
        *app.borrow_mut() = Some(App {
            config_path,
            config,
            choices,
            load_problem: load_problem.or(render_problem),
            file_unreadable,
            note: String::new(),
            font: HFONT::default(),
            tone_playing: false,
        })
    });

    let hwnd = match create_window(&selection) {
        Ok(hwnd) => hwnd,
        Err(error) => {
            eprintln!("wasio-panel: cannot create the window: {error}");
            return 1;
        }
    };
    let mut exit_code = 0;
    if options.self_check {
        let report = self_check(hwnd);
        exit_code = i32::from(!report.0);
        println!("{}", report.1);
        // SAFETY: a timer on our own window.
        unsafe {
            SetTimer(
                Some(hwnd),
                TIMER_HOLD,
                (options.hold_seconds * 1000.0) as u32,
                None,
            )
        };
    }
    message_loop(hwnd);
    exit_code
}

fn create_window(selection: &Selection) -> Result<HWND, String> {
    // SAFETY: the module handle of this executable.
    let instance: HINSTANCE = unsafe { GetModuleHandleW(None) }
        .map_err(|e| e.to_string())?
        .into();
    let class = WNDCLASSEXW {
        cbSize: std::mem::size_of::<WNDCLASSEXW>() as u32,
        lpfnWndProc: Some(window_proc),
        hInstance: instance,
        // SAFETY: loading a system cursor.
        hCursor: unsafe { LoadCursorW(None, IDC_ARROW) }.unwrap_or_default(),
        hbrBackground: HBRUSH((COLOR_BTNFACE.0 + 1) as usize as *mut c_void),
        lpszClassName: w!("WasioControlPanel"),
        ..Default::default()
    };
    // SAFETY: the class structure is valid for the call.
    if unsafe { RegisterClassExW(&class) } == 0 {
        return Err("RegisterClassExW failed".into());
    }
    let style = WS_OVERLAPPED | WS_CAPTION | WS_SYSMENU | WS_MINIMIZEBOX;
    // SAFETY: creating a top-level window of the class registered above.
    let hwnd = unsafe {
        CreateWindowExW(
            WS_EX_CONTROLPARENT,
            w!("WasioControlPanel"),
            w!("Wasio control panel"),
            style,
            CW_USEDEFAULT,
            CW_USEDEFAULT,
            layout::CLIENT_WIDTH,
            layout::CLIENT_HEIGHT,
            None,
            None,
            Some(instance),
            None,
        )
    }
    .map_err(|e| e.to_string())?;
    create_controls(hwnd, instance, selection)?;
    // SAFETY: our window.
    let dpi = unsafe { GetDpiForWindow(hwnd) }.max(96);
    apply_dpi(hwnd, dpi, None);
    refresh_problems(hwnd);
    refresh_file_line(hwnd);
    refresh_status(hwnd);
    // SAFETY: our window.
    unsafe {
        SetTimer(Some(hwnd), TIMER_STATUS, STATUS_PERIOD_MS, None);
        let _ = ShowWindow(hwnd, SW_SHOW);
        let _ = UpdateWindow(hwnd);
    }
    Ok(hwnd)
}

fn child(
    parent: HWND,
    instance: HINSTANCE,
    class: PCWSTR,
    text: &str,
    style: WINDOW_STYLE,
    id: i32,
) -> Result<HWND, String> {
    let text = wide(text);
    // SAFETY: a child window of `parent`; `text` outlives the call. Positions come from
    // `apply_dpi`.
    unsafe {
        CreateWindowExW(
            WINDOW_EX_STYLE::default(),
            class,
            PCWSTR(text.as_ptr()),
            WS_CHILD | WS_VISIBLE | style,
            0,
            0,
            10,
            10,
            Some(parent),
            Some(HMENU(id as isize as *mut c_void)),
            Some(instance),
            None,
        )
    }
    .map_err(|e| format!("creating control {id}: {e}"))
}

fn item(parent: HWND, id: i32) -> HWND {
    // SAFETY: looking up a child of our window.
    unsafe { GetDlgItem(Some(parent), id) }.unwrap_or_default()
}

fn send(hwnd: HWND, message: u32, wparam: usize, lparam: isize) -> isize {
    // SAFETY: messages to our own controls with arguments of the documented types.
    unsafe { SendMessageW(hwnd, message, Some(WPARAM(wparam)), Some(LPARAM(lparam))) }.0
}

fn fill_combo(combo: HWND, labels: &[String], selected: usize) {
    send(combo, CB_RESETCONTENT, 0, 0);
    for label in labels {
        let text = wide(label);
        send(combo, CB_ADDSTRING, 0, text.as_ptr() as isize);
    }
    send(combo, CB_SETCURSEL, selected, 0);
}

fn create_controls(hwnd: HWND, instance: HINSTANCE, selection: &Selection) -> Result<(), String> {
    let lists = with_app(|app| {
        let c = &app.choices;
        [
            (c.output_labels(), selection.output),
            (c.input_labels(), selection.input),
            (c.mode_labels(), selection.mode),
            (c.sample_type_labels(), selection.sample_type),
            (c.buffer_size_labels(), selection.buffer_size),
            (c.sample_rate_labels(), selection.sample_rate),
            (c.channel_labels(), selection.channels),
        ]
    })
    .ok_or("no application state")?;
    for (index, ((id, label), (labels, selected))) in PICKERS.iter().zip(lists).enumerate() {
        child(
            hwnd,
            instance,
            w!("STATIC"),
            &format!("{label}:"),
            WINDOW_STYLE(SS_LEFT),
            ID_LABEL_BASE + index as i32 + 1,
        )?;
        let combo = child(
            hwnd,
            instance,
            w!("COMBOBOX"),
            "",
            WS_TABSTOP | WS_VSCROLL | WINDOW_STYLE(CBS_DROPDOWNLIST as u32),
            *id,
        )?;
        fill_combo(combo, &labels, selected);
    }
    let label = WINDOW_STYLE(SS_LEFT);
    let path_label = WINDOW_STYLE(SS_LEFT | SS_NOPREFIX);
    let button = WS_TABSTOP | WINDOW_STYLE(BS_PUSHBUTTON as u32);
    let default_button = WS_TABSTOP | WINDOW_STYLE(BS_DEFPUSHBUTTON as u32);
    let below_pickers = [
        (w!("STATIC"), "", label, ID_PROBLEMS),
        (w!("STATIC"), "", path_label, ID_FILE),
        (w!("STATIC"), "", label, ID_STATUS),
        (w!("BUTTON"), "&Test tone", button, ID_TONE),
        (w!("BUTTON"), "&Save", default_button, ID_SAVE),
        (w!("BUTTON"), "&Close", button, ID_CLOSE),
    ];
    for (class, text, style, id) in below_pickers {
        child(hwnd, instance, class, text, style, id)?;
    }
    PROBLEMS_LABEL.with(|label| label.set(item(hwnd, ID_PROBLEMS).0 as isize));
    Ok(())
}

/// The message font at `dpi` (Segoe UI 9 pt on current Windows).
fn font_for(dpi: u32) -> HFONT {
    let mut metrics = NONCLIENTMETRICSW {
        cbSize: std::mem::size_of::<NONCLIENTMETRICSW>() as u32,
        ..Default::default()
    };
    // SAFETY: `metrics` is a NONCLIENTMETRICSW with its size set.
    let got = unsafe {
        SystemParametersInfoForDpi(
            SPI_GETNONCLIENTMETRICS.0,
            metrics.cbSize,
            Some(&mut metrics as *mut _ as *mut c_void),
            0,
            dpi,
        )
    };
    let mut font = metrics.lfMessageFont;
    if got.is_err() || font.lfFaceName[0] == 0 {
        font = Default::default();
        let face = wide("MS Shell Dlg 2");
        font.lfFaceName[..face.len()].copy_from_slice(&face);
    }
    font.lfHeight = -scale(layout::FONT_POINTS * 96 / 72, dpi);
    // SAFETY: a valid LOGFONTW.
    unsafe { CreateFontIndirectW(&font) }
}

/// Sizes the window for `dpi`, places every control, and sets the font. `suggested` is the
/// rectangle WM_DPICHANGED proposes.
fn apply_dpi(hwnd: HWND, dpi: u32, suggested: Option<RECT>) {
    use layout::*;
    let font = font_for(dpi);
    let old = with_app(|app| std::mem::replace(&mut app.font, font));
    if let Some(old) = old.filter(|f| !f.is_invalid()) {
        // SAFETY: the previous font, no longer selected by any control after WM_SETFONT below.
        let _ = unsafe { DeleteObject(HGDIOBJ(old.0)) };
    }
    let s = |v: i32| scale(v, dpi);
    let place = |id: i32, x: i32, y: i32, w: i32, h: i32| {
        let control = item(hwnd, id);
        // SAFETY: moving our own child window.
        let _ = unsafe { MoveWindow(control, s(x), s(y), s(w), s(h), false) };
        send(control, WM_SETFONT, font.0 as usize, 0);
    };
    for (row, (id, _)) in PICKERS.iter().enumerate() {
        let y = MARGIN + row as i32 * ROW_PITCH;
        place(
            ID_LABEL_BASE + row as i32 + 1,
            MARGIN,
            y + 4,
            LABEL_WIDTH,
            PICKER_HEIGHT - 4,
        );
        place(
            *id,
            MARGIN + LABEL_WIDTH + GAP,
            y,
            PICKER_WIDTH,
            DROP_HEIGHT,
        );
    }
    place(
        ID_PROBLEMS,
        MARGIN,
        PROBLEMS_TOP,
        CONTENT_WIDTH,
        PROBLEMS_HEIGHT,
    );
    place(ID_FILE, MARGIN, FILE_TOP, CONTENT_WIDTH, FILE_HEIGHT);
    place(ID_STATUS, MARGIN, STATUS_TOP, CONTENT_WIDTH, STATUS_HEIGHT);
    place(ID_TONE, MARGIN, BUTTONS_TOP, BUTTON_WIDTH, BUTTON_HEIGHT);
    let right = MARGIN + CONTENT_WIDTH;
    place(
        ID_CLOSE,
        right - BUTTON_WIDTH,
        BUTTONS_TOP,
        BUTTON_WIDTH,
        BUTTON_HEIGHT,
    );
    place(
        ID_SAVE,
        right - 2 * BUTTON_WIDTH - GAP,
        BUTTONS_TOP,
        BUTTON_WIDTH,
        BUTTON_HEIGHT,
    );
    let style = WS_OVERLAPPED | WS_CAPTION | WS_SYSMENU | WS_MINIMIZEBOX;
    let mut frame = RECT {
        left: 0,
        top: 0,
        right: s(CLIENT_WIDTH),
        bottom: s(CLIENT_HEIGHT),
    };
    // SAFETY: `frame` is a valid RECT.
    let _ = unsafe { AdjustWindowRectExForDpi(&mut frame, style, false, WS_EX_CONTROLPARENT, dpi) };
    let (x, y, flags) = match suggested {
        Some(r) => (r.left, r.top, SWP_NOZORDER | SWP_NOACTIVATE),
        None => (0, 0, SWP_NOZORDER | SWP_NOACTIVATE | SWP_NOMOVE),
    };
    // SAFETY: our own window.
    unsafe {
        let _ = SetWindowPos(
            hwnd,
            None,
            x,
            y,
            frame.right - frame.left,
            frame.bottom - frame.top,
            flags,
        );
        let _ = windows::Win32::Graphics::Gdi::InvalidateRect(Some(hwnd), None, true);
    }
}

fn current_selection(hwnd: HWND) -> Selection {
    let index = |id| usize::try_from(send(item(hwnd, id), CB_GETCURSEL, 0, 0)).unwrap_or(0);
    Selection {
        output: index(ID_OUTPUT),
        input: index(ID_INPUT),
        mode: index(ID_MODE),
        sample_type: index(ID_SAMPLE_TYPE),
        buffer_size: index(ID_BUFFER),
        sample_rate: index(ID_RATE),
        channels: index(ID_CHANNELS),
    }
}

/// The configuration the form shows, and its problems.
fn edited_config(hwnd: HWND) -> Option<(Config, Vec<String>, PathBuf)> {
    let selection = current_selection(hwnd);
    with_app(|app| {
        let mut config = app.config.clone();
        app.choices.apply(&selection, &mut config);
        let found = problems(&config, app.choices.output_endpoint(&selection));
        (config, found, app.config_path.clone())
    })
}

fn set_text(hwnd: HWND, text: &str) {
    let text = wide(text);
    // SAFETY: our own control; `text` outlives the call.
    let _ = unsafe { SetWindowTextW(hwnd, PCWSTR(text.as_ptr())) };
}

fn refresh_problems(hwnd: HWND) {
    let Some((_, found, _)) = edited_config(hwnd) else {
        return;
    };
    let load_problem = with_app(|app| app.load_problem.clone()).flatten();
    let text = if found.is_empty() {
        load_problem.unwrap_or_default()
    } else {
        format!("Cannot be saved: {}", found.join("; "))
    };
    set_text(item(hwnd, ID_PROBLEMS), &text);
}

fn refresh_file_line(hwnd: HWND) {
    let Some(text) = with_app(|app| {
        let mut text = format!("Settings file: {}", app.config_path.display());
        if !app.note.is_empty() {
            text.push_str(&format!("\r\n{}", app.note));
        }
        text
    }) else {
        return;
    };
    set_text(item(hwnd, ID_FILE), &text);
}

/// The live status line, from the status files the driver writes.
fn status_text() -> String {
    let dir = status_dir(&std::env::temp_dir());
    let entries = read_status_dir(&dir, now_unix_ms(), process_alive).unwrap_or_default();
    let live: Vec<_> = entries
        .iter()
        .filter(|e| e.staleness.is_live())
        .filter_map(|e| e.status.as_ref().ok())
        .collect();
    match live.first() {
        None => "Driver: not running in any program.".to_string(),
        Some(s) => {
            let mode = if s.mode.is_empty() {
                "no stream"
            } else {
                &s.mode
            };
            let mut text = format!(
                "Driver: {} in {} (PID {}): {mode}, period {} frames, buffer {} frames,\r\n{} Hz, {}, {} xruns",
                s.state, s.process, s.pid, s.period_frames, s.buffer_frames, s.sample_rate, s.format, s.xruns
            );
            if live.len() > 1 {
                text.push_str(&format!(" (+{} more instances)", live.len() - 1));
            }
            text
        }
    }
}

fn refresh_status(hwnd: HWND) {
    set_text(item(hwnd, ID_STATUS), &status_text());
}

fn message_box(
    hwnd: HWND,
    text: &str,
    caption: &str,
    style: MESSAGEBOX_STYLE,
) -> MESSAGEBOX_RESULT {
    let (text, caption) = (wide(text), wide(caption));
    // SAFETY: strings outlive the modal call; APP is not borrowed here.
    unsafe {
        MessageBoxW(
            Some(hwnd),
            PCWSTR(text.as_ptr()),
            PCWSTR(caption.as_ptr()),
            style,
        )
    }
}

fn save(hwnd: HWND) {
    let Some((config, found, path)) = edited_config(hwnd) else {
        return;
    };
    if !found.is_empty() {
        let text = format!(
            "These settings cannot work, so they were not saved:\n\n• {}",
            found.join("\n• ")
        );
        message_box(hwnd, &text, "Wasio: not saved", MB_OK | MB_ICONWARNING);
        return;
    }
    if with_app(|app| app.file_unreadable) == Some(true) {
        let text = format!(
            "{} could not be read when the panel opened, so the panel showed the defaults.\n\n\
             Saving replaces the whole file with the settings shown. Save anyway?",
            path.display()
        );
        if message_box(
            hwnd,
            &text,
            "Wasio: replace the file?",
            MB_OKCANCEL | MB_ICONWARNING,
        ) != IDOK
        {
            return;
        }
    }
    let note = match config.save(&path) {
        Ok(()) => {
            with_app(|app| {
                app.config = config.clone();
                app.load_problem = None;
                app.file_unreadable = false;
            });
            "Saved. Hosts pick the change up when they reset the driver.".to_string()
        }
        Err(error) => {
            let text = format!("Could not write {}: {error}", path.display());
            message_box(hwnd, &text, "Wasio: not saved", MB_OK | MB_ICONERROR);
            format!("Not saved: {error}")
        }
    };
    with_app(|app| app.note = note);
    refresh_problems(hwnd);
    refresh_file_line(hwnd);
}

fn test_tone(hwnd: HWND) {
    let selection = current_selection(hwnd);
    let Some(Some((id, name))) = with_app(|app| {
        if app.tone_playing {
            return None;
        }
        app.tone_playing = true;
        let endpoint = app.choices.output_endpoint(&selection);
        Some((
            endpoint.map(|e| e.id.clone()),
            endpoint.map_or("the default device".to_string(), |e| e.name.clone()),
        ))
    }) else {
        return;
    };
    with_app(|app| app.note = format!("Playing {} Hz on {name}…", tone::TONE_HZ));
    refresh_file_line(hwnd);
    let target = hwnd.0 as isize;
    std::thread::spawn(move || {
        let result = tone::play(id.as_deref());
        let note = match &result {
            Ok(()) => format!("Test tone played on {name}."),
            Err(error) => format!("Test tone failed on {name}: {error}"),
        };
        let note = Box::into_raw(Box::new(note));
        // SAFETY: posting to the panel's window; the window procedure takes ownership of
        // the boxed note (or it leaks if the window is gone, which ends the process anyway).
        let _ = unsafe {
            PostMessageW(
                Some(HWND(target as *mut c_void)),
                WM_TONE_DONE,
                WPARAM(usize::from(result.is_ok())),
                LPARAM(note as isize),
            )
        };
    });
}

extern "system" fn window_proc(
    hwnd: HWND,
    message: u32,
    wparam: WPARAM,
    lparam: LPARAM,
) -> LRESULT {
    match message {
        WM_COMMAND => {
            let id = (wparam.0 & 0xFFFF) as i32;
            let code = ((wparam.0 >> 16) & 0xFFFF) as u32;
            match (id, code) {
                (ID_SAVE, _) => save(hwnd),
                (ID_CLOSE, _) | (2, _) => {
                    // IDCANCEL (Escape) too.
                    // SAFETY: our window.
                    let _ = unsafe { DestroyWindow(hwnd) };
                }
                (ID_TONE, _) => test_tone(hwnd),
                (_, CBN_SELCHANGE) => refresh_problems(hwnd),
                _ => {}
            }
            LRESULT(0)
        }
        WM_CTLCOLORSTATIC => {
            let hdc = HDC(wparam.0 as *mut c_void);
            let is_problems = PROBLEMS_LABEL.with(|label| label.get()) == lparam.0;
            // SAFETY: the DC the control gave us for this paint.
            unsafe {
                if is_problems {
                    SetTextColor(hdc, COLORREF(0x0000_20B0)); // dark red (BGR)
                }
                SetBkMode(hdc, TRANSPARENT);
                LRESULT(GetSysColorBrush(COLOR_BTNFACE).0 as isize)
            }
        }
        WM_TIMER => {
            match wparam.0 {
                TIMER_STATUS => refresh_status(hwnd),
                TIMER_HOLD => {
                    // SAFETY: our window.
                    let _ = unsafe { DestroyWindow(hwnd) };
                }
                _ => {}
            }
            LRESULT(0)
        }
        WM_TONE_DONE => {
            // SAFETY: the tone thread posted a Box<String> it gave up.
            let note = unsafe { Box::from_raw(lparam.0 as *mut String) };
            with_app(|app| {
                app.tone_playing = false;
                app.note = *note;
            });
            refresh_file_line(hwnd);
            LRESULT(0)
        }
        WM_DPICHANGED => {
            let dpi = (wparam.0 & 0xFFFF) as u32;
            // SAFETY: WM_DPICHANGED's lparam points to the suggested RECT.
            let suggested = unsafe { *(lparam.0 as *const RECT) };
            apply_dpi(hwnd, dpi, Some(suggested));
            LRESULT(0)
        }
        WM_DESTROY => {
            // SAFETY: ends this thread's message loop.
            unsafe { PostQuitMessage(0) };
            LRESULT(0)
        }
        // SAFETY: default handling of every other message.
        _ => unsafe { DefWindowProcW(hwnd, message, wparam, lparam) },
    }
}

fn message_loop(hwnd: HWND) {
    let mut message = MSG::default();
    // SAFETY: the standard loop; IsDialogMessage gives Tab/Enter/Escape handling.
    unsafe {
        while GetMessageW(&mut message, None, 0, 0).as_bool() {
            if !IsDialogMessageW(hwnd, &message).as_bool() {
                let _ = TranslateMessage(&message);
                DispatchMessageW(&message);
            }
        }
    }
}

fn class_name(hwnd: HWND) -> String {
    let mut buffer = [0u16; 64];
    // SAFETY: `buffer` is writable.
    let n = unsafe { GetClassNameW(hwnd, &mut buffer) };
    String::from_utf16_lossy(&buffer[..n.max(0) as usize])
}

fn window_text(hwnd: HWND) -> String {
    let mut buffer = [0u16; 1024];
    // SAFETY: `buffer` is writable.
    let n = unsafe { GetWindowTextW(hwnd, &mut buffer) };
    String::from_utf16_lossy(&buffer[..n.max(0) as usize])
}

fn combo_items(combo: HWND) -> Vec<String> {
    let count = send(combo, CB_GETCOUNT, 0, 0).max(0) as usize;
    (0..count)
        .map(|i| {
            let length = send(combo, CB_GETLBTEXTLEN, i, 0).max(0) as usize;
            let mut buffer = vec![0u16; length + 1];
            send(combo, CB_GETLBTEXT, i, buffer.as_mut_ptr() as isize);
            String::from_utf16_lossy(&buffer[..length])
        })
        .collect()
}

/// Checks that every control exists with its class and every picker is filled and has a
/// selection; returns (passed, JSON report).
fn self_check(hwnd: HWND) -> (bool, String) {
    let mut ok = true;
    let mut controls = Vec::new();
    let mut expect = |id: i32, name: &str, class: &str| {
        let control = item(hwnd, id);
        let exists = !control.is_invalid();
        let actual = if exists {
            class_name(control)
        } else {
            String::new()
        };
        let class_ok = actual.eq_ignore_ascii_case(class);
        let mut control_ok = exists && class_ok;
        let mut entry = vec![
            ("id", Json::from(id)),
            ("name", Json::from(name)),
            ("class", Json::from(actual)),
            ("exists", Json::from(exists)),
        ];
        if class == "ComboBox" {
            let items = combo_items(control);
            let selected = send(control, CB_GETCURSEL, 0, 0);
            control_ok &= !items.is_empty() && selected >= 0;
            entry.push(("items", Json::from(items)));
            entry.push(("selected", Json::Int(selected as i64)));
        } else {
            entry.push(("text", Json::from(window_text(control))));
        }
        let mut rect = RECT::default();
        // SAFETY: our own child window; `rect` is writable.
        let _ = unsafe { GetWindowRect(control, &mut rect) };
        entry.push(("width", Json::from(rect.right - rect.left)));
        entry.push(("height", Json::from(rect.bottom - rect.top)));
        entry.push(("ok", Json::from(control_ok)));
        ok &= control_ok;
        controls.push(Json::object(entry));
    };
    for (id, label) in PICKERS {
        expect(id, label, "ComboBox");
    }
    expect(ID_PROBLEMS, "problems", "Static");
    expect(ID_FILE, "settings file", "Static");
    expect(ID_STATUS, "status", "Static");
    expect(ID_TONE, "Test tone", "Button");
    expect(ID_SAVE, "Save", "Button");
    expect(ID_CLOSE, "Close", "Button");
    // SAFETY: our window.
    let dpi = unsafe { GetDpiForWindow(hwnd) };
    let mut client = RECT::default();
    // SAFETY: our window; `client` is writable.
    let _ = unsafe { GetClientRect(hwnd, &mut client) };
    let expected_width = scale(layout::CLIENT_WIDTH, dpi.max(96));
    let size_ok = (client.right - expected_width).abs() <= 2;
    ok &= size_ok;
    let report = Json::object([
        ("ok", Json::from(ok)),
        ("dpi", Json::from(dpi as i64)),
        ("client_width", Json::from(client.right)),
        ("client_height", Json::from(client.bottom)),
        ("size_ok", Json::from(size_ok)),
        ("controls", Json::Array(controls)),
    ])
    .to_compact();
    (ok, report)
}
