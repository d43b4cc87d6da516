// test-handler.js
//
// SPDX-License-Identifier: LGPL-2.1-or-later

// Hk.EventHandler subclassed from JavaScript. Run with the build directory
// of hachiko in GI_TYPELIB_PATH and LD_LIBRARY_PATH:
//
//   GI_TYPELIB_PATH=_build/hachiko LD_LIBRARY_PATH=_build/hachiko \
//       gjs tests/gjs/test-handler.js
//
// Prints TAP.

const {GLib, Gio, GObject} = imports.gi;
imports.gi.versions.Hk = '1';
const Hk = imports.gi.Hk;
const System = imports.system;

const TIMEOUT_MS = 5000;

const NICKS = new Map([
    [Hk.EventType.CREATED, 'created'],
    [Hk.EventType.DELETED, 'deleted'],
    [Hk.EventType.MODIFIED, 'modified'],
    [Hk.EventType.MOVED, 'moved'],
    [Hk.EventType.ATTRIBUTE_CHANGED, 'attribute-changed'],
    [Hk.EventType.CLOSED, 'closed'],
    [Hk.EventType.OPENED, 'opened'],
    [Hk.EventType.CLOSED_NO_WRITE, 'closed-no-write'],
]);

// Logs every call as "[tag]method relative-path".
const Recorder = GObject.registerClass(
class Recorder extends Hk.EventHandler {
    _init(log, root = '', tag = '', params = {}) {
        super._init(params);
        this.log = log;
        this.root = root;
        this.tag = tag;
    }

    _relative(path) {
        if (path !== null && this.root && path.startsWith(`${this.root}/`))
            return path.slice(this.root.length + 1);
        return path;
    }

    _add(method, event) {
        let line = `${this.tag}${method} ${this._relative(event.get_path())}`;
        if (event.get_dest_path() !== null)
            line += ` -> ${this._relative(event.get_dest_path())}`;
        this.log.push(line);
    }

    vfunc_on_any_event(event) {
        this._add(`any:${NICKS.get(event.get_event_type())}`, event);
    }

    vfunc_on_created(event) {
        this._add('created', event);
    }

    vfunc_on_deleted(event) {
        this._add('deleted', event);
    }

    vfunc_on_modified(event) {
        this._add('modified', event);
    }

    vfunc_on_moved(event) {
        this._add('moved', event);
    }

    vfunc_on_attribute_changed(event) {
        this._add('attribute-changed', event);
    }

    vfunc_on_closed(event) {
        this._add('closed', event);
    }

    vfunc_on_opened(event) {
        this._add('opened', event);
    }

    vfunc_on_closed_no_write(event) {
        this._add('closed-no-write', event);
    }
});

// Overrides one method: the others keep doing nothing.
const OnlyCreated = GObject.registerClass(
class OnlyCreated extends Hk.EventHandler {
    _init() {
        super._init();
        this.created = [];
    }

    vfunc_on_created(event) {
        this.created.push(event.get_path());
    }
});

// --- helpers ---------------------------------------------------------------

function assert(condition, message) {
    if (!condition)
        throw new Error(`assertion failed: ${message}`);
}

function assertEqual(actual, expected, what = 'value') {
    const a = JSON.stringify(actual);
    const e = JSON.stringify(expected);
    if (a !== e)
        throw new Error(`${what}: expected ${e}, got ${a}`);
}

// Iterates the default main context until condition() or the timeout.
function waitUntil(condition, timeoutMs = TIMEOUT_MS) {
    const context = GLib.MainContext.default();
    let timedOut = false;
    const id = GLib.timeout_add(GLib.PRIORITY_DEFAULT, timeoutMs, () => {
        timedOut = true;
        return GLib.SOURCE_REMOVE;
    });
    while (!condition() && !timedOut)
        context.iteration(true);
    if (!timedOut)
        GLib.source_remove(id);
    return condition();
}

function drain(ms) {
    waitUntil(() => false, ms);
}

function writeFile(path, text = 'x') {
    GLib.file_set_contents(path, text);
}

// GLib.file_set_contents() renames a temporary file into place; this
// writes in place instead, which is what the tests below expect.
function writeInPlace(path, text = 'x') {
    const file = Gio.File.new_for_path(path);
    const stream = file.replace(null, false, Gio.FileCreateFlags.NONE, null);
    stream.write_all(new TextEncoder().encode(text), null);
    stream.close(null);
}

class WatchdogFixture {
    constructor() {
        this.root = GLib.dir_make_tmp('hachiko-gjs-XXXXXX');
        this.watchdog = Hk.Watchdog.new(Gio.File.new_for_path(this.root));
        this.log = [];
    }

    path(name) {
        return GLib.build_filenamev([this.root, name]);
    }

    add(tag = '') {
        const handler = new Recorder(this.log, this.root, tag);
        this.watchdog.add_handler(handler);
        return handler;
    }

    waitFor(line) {
        if (!waitUntil(() => this.log.includes(line)))
            throw new Error(`"${line}" never came; the log: ${JSON.stringify(this.log)}`);
    }

    destroy() {
        this.watchdog.stop();
        this.watchdog = null;
        removeTree(Gio.File.new_for_path(this.root));
    }
}

function removeTree(file) {
    const info = file.query_info('standard::type', Gio.FileQueryInfoFlags.NOFOLLOW_SYMLINKS, null);
    if (info.get_file_type() === Gio.FileType.DIRECTORY) {
        const children = file.enumerate_children('standard::name',
            Gio.FileQueryInfoFlags.NOFOLLOW_SYMLINKS, null);
        let child;
        while ((child = children.next_file(null)) !== null)
            removeTree(file.get_child(child.get_name()));
        children.close(null);
    }
    file.delete(null);
}

// --- the tests -------------------------------------------------------------

const tests = [];

function test(name, func) {
    tests.push({name, func});
}

test('dispatch: on_any_event, then the specific method', () => {
    const log = [];
    const handler = new Recorder(log);
    for (const [type, nick] of NICKS) {
        const dest = type === Hk.EventType.MOVED ? '/r/g' : null;
        const event = Hk.Event.new(type, '/r/f', dest, false, false, 0);
        log.length = 0;
        handler.dispatch(event);
        const suffix = dest ? ' -> /r/g' : '';
        assertEqual(log, [`any:${nick} /r/f${suffix}`, `${nick} /r/f${suffix}`], nick);
    }
});

test('dispatch: methods not overridden do nothing', () => {
    const base = new Hk.EventHandler();
    const partial = new OnlyCreated();
    for (const type of NICKS.keys()) {
        const event = Hk.Event.new(type, '/r/f', null, false, false, 0);
        base.dispatch(event);
        partial.dispatch(event);
    }
    assertEqual(partial.created, ['/r/f']);
});

test('filter property', () => {
    const handler = new Recorder([]);
    assert(handler.filter === null, 'no filter by default');
    let notified = 0;
    handler.connect('notify::filter', () => notified++);
    const filter = new Hk.Filter();
    handler.filter = filter;
    assert(handler.get_filter() === filter, 'the filter is set');
    handler.set_filter(filter);
    assertEqual(notified, 1, 'notifications');
    handler.filter = null;
    assert(handler.get_filter() === null, 'the filter is unset');
    const built = new Recorder([], '', '', {filter});
    assert(built.get_filter() === filter, 'set at construction');
});

test('watchdog: event signal, then on_any_event, then the method', fixture => {
    fixture.add();
    fixture.watchdog.connect('event', (watchdog, event) =>
        fixture.log.push(`signal:${NICKS.get(event.get_event_type())}`));
    fixture.watchdog.start(null);
    writeInPlace(fixture.path('f'));
    fixture.waitFor('closed f');
    assertEqual(fixture.log.slice(0, 3), ['signal:created', 'any:created f', 'created f']);
    assertEqual(fixture.log.slice(-3), ['signal:closed', 'any:closed f', 'closed f']);
});

test('watchdog: every method', fixture => {
    fixture.add();
    fixture.watchdog.access_events = true;
    fixture.watchdog.start(null);
    writeInPlace(fixture.path('f'));
    fixture.waitFor('closed f');
    GLib.file_get_contents(fixture.path('f'));
    fixture.waitFor('closed-no-write f');
    Gio.File.new_for_path(fixture.path('f')).set_attribute_uint32('unix::mode', 0o600,
        Gio.FileQueryInfoFlags.NOFOLLOW_SYMLINKS, null);
    fixture.waitFor('attribute-changed f');
    Gio.File.new_for_path(fixture.path('f')).move(Gio.File.new_for_path(fixture.path('g')),
        Gio.FileCopyFlags.NONE, null, null);
    fixture.waitFor('moved f -> g');
    Gio.File.new_for_path(fixture.path('g')).delete(null);
    fixture.waitFor('deleted g');
    for (const line of ['created f', 'opened f', 'modified f', 'any:moved f -> g', 'any:deleted g'])
        assert(fixture.log.includes(line), line);
});

test('watchdog: several handlers, in the order added', fixture => {
    fixture.add('1:');
    fixture.add('2:');
    fixture.watchdog.start(null);
    GLib.mkdir_with_parents(fixture.path('d'), 0o755);
    fixture.waitFor('2:created d');
    assertEqual(fixture.log, ['1:any:created d', '1:created d', '2:any:created d', '2:created d']);
});

test('watchdog: a filter per handler', fixture => {
    const texts = fixture.add('txt:');
    fixture.add('all:');
    const filter = new Hk.Filter();
    filter.add_pattern('*.txt');
    texts.filter = filter;
    fixture.watchdog.start(null);
    writeInPlace(fixture.path('a.log'));
    writeInPlace(fixture.path('b.txt'));
    writeInPlace(fixture.path('last'));
    fixture.waitFor('all:closed last');
    assert(fixture.log.includes('all:created a.log'), 'all:created a.log');
    assert(fixture.log.includes('txt:created b.txt'), 'txt:created b.txt');
    assertEqual(fixture.log.filter(l => l.startsWith('txt:') && !l.includes('b.txt')), [],
        'what the filtered handler saw besides b.txt');
});

test('watchdog: remove_handler stops delivery', fixture => {
    const removed = fixture.add('removed:');
    fixture.add('kept:');
    fixture.watchdog.start(null);
    writeInPlace(fixture.path('f'));
    fixture.waitFor('removed:created f');
    fixture.watchdog.remove_handler(removed);
    fixture.watchdog.remove_handler(new Hk.EventHandler());
    writeInPlace(fixture.path('g'));
    fixture.waitFor('kept:closed g');
    drain(50);
    assertEqual(fixture.log.filter(l => l.startsWith('removed:') && l.includes(' g')), [],
        'what the removed handler saw of g');
});

test('watchdog: handlers see merged events with a latency', fixture => {
    fixture.add();
    fixture.watchdog.latency = 50;
    fixture.watchdog.start(null);
    writeFile(fixture.path('f'));   /* created, written, renamed into place */
    writeInPlace(fixture.path('g'));
    fixture.waitFor('created g');
    drain(200);
    assert(!fixture.log.some(l => l.includes('modified') || l.includes('closed')),
        `no change after a creation: ${JSON.stringify(fixture.log)}`);
    assert(fixture.log.includes('created f'), 'created f');
});

// --- running ---------------------------------------------------------------

let failed = 0;
print(`1..${tests.length}`);
tests.forEach(({name, func}, i) => {
    const fixture = func.length > 0 ? new WatchdogFixture() : null;
    try {
        func(fixture);
        print(`ok ${i + 1} ${name}`);
    } catch (e) {
        failed++;
        print(`not ok ${i + 1} ${name}`);
        for (const line of `${e}\n${e.stack}`.split('\n'))
            print(`# ${line}`);
    } finally {
        if (fixture)
            fixture.destroy();
    }
});

System.exit(failed > 0 ? 1 : 0);
