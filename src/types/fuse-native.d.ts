// Types for the parts of fuse-native (as patched by patches/fuse-native+2.2.6.patch) that layerfs uses.
declare module 'fuse-native' {
  type Cb = (...args: any[]) => void;
  interface FuseOptions {
    timeout?: number | false;
    options?: string[];
    mkdir?: boolean;
    force?: boolean;
    /** false: fsync of a handle registered with setFd succeeds without syncing (volatile mounts). */
    fsync?: boolean;
  }
  class Fuse {
    constructor(mnt: string, ops: Record<string, (...args: any[]) => void>, opts?: FuseOptions);
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    /** [uid, gid, pid, umask] of the request whose handler is running (valid synchronously). */
    readonly contextArray: Uint32Array;
    /**
     * Serve read/write/fsync/fgetattr/ftruncate of handle fh from host descriptor fd in native
     * code (no op call). path: the handle's path (a data change then outdates only its kept
     * attributes). SET_FD_NAMED: fd is the object at path itself (nothing but this mount changes
     * it), so chmod/chown/utimens of path run on fd until a rename, unlink or rmdir;
     * SET_FD_BARE: it has no xattr, so getxattr of path is ENODATA until a setxattr/removexattr.
     */
    setFd(fh: number, fd: number, path?: string, flags?: number): void;
    static unmount(mnt: string, cb: (err: Error | null) => void): void;
    static SET_FD_NAMED: number;
    static SET_FD_BARE: number;
    static UTIME_NOW: number;
    static UTIME_OMIT: number;
  }
  export = Fuse;
}
