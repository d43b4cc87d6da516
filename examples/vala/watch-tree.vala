/* watch-tree.vala: prints every change under a directory until Ctrl-C.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   valac --pkg hachiko-1 watch-tree.vala
 */

static int main (string[] args) {
    var loop = new MainLoop ();
    var root = File.new_for_commandline_arg (args.length > 1 ? args[1] : ".");
    var watchdog = new Hk.Watchdog (root);
    int status = 0;

    watchdog.event.connect ((event) => {
        var type = event.get_event_type ().to_string ();
        if (event.get_dest_path () != null)
            print ("%s %s -> %s\n", type, event.get_path (), event.get_dest_path ());
        else
            print ("%s %s\n", type, event.get_path ());
    });
    watchdog.error.connect ((error) => printerr ("warning: %s\n", error.message));

    /* Start without blocking the loop: the initial crawl of a large tree
     * runs on the worker thread. */
    watchdog.start_async.begin (null, (obj, res) => {
        try {
            watchdog.start_async.end (res);
            print ("watching %s\n", root.get_path ());
        } catch (Error e) {
            printerr ("%s\n", e.message);
            status = 1;
            loop.quit ();
        }
    });

    Unix.signal_add (Posix.Signal.INT, () => { loop.quit (); return Source.REMOVE; });
    Unix.signal_add (Posix.Signal.TERM, () => { loop.quit (); return Source.REMOVE; });
    loop.run ();
    watchdog.stop ();

    return status;
}
