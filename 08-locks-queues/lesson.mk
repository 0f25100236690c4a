# 08-locks-queues: POSIX message queues lived in librt before glibc 2.34
# (an empty stub since), so link it for older systems too.
08-locks-queues/ipc_queue: LDLIBS += -lrt
