package logs

import "syscall"

const ioctlGetTermios = syscall.TCGETS
