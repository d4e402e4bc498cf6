"""A real SMTP server for Roster's end-to-end tests (aiosmtpd, from PyPI).

Stores every message it accepts as one file in the folder given on the
command line, named <sequence>-<uuid>.eml, written to a temporary name and
renamed so a reader never sees half a message. Prints "ready" once it
listens.

    python smtp_sink.py --port 2525 --folder /tmp/mails
"""

import argparse
import asyncio
import os
import signal
import uuid

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, folder):
        self.folder = folder
        self.count = len(os.listdir(folder))

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = f"{self.count:06d}-{uuid.uuid4().hex}.eml"
        temporary = os.path.join(self.folder, "." + name + ".part")
        with open(temporary, "wb") as out:
            out.write(envelope.original_content or envelope.content)
        os.rename(temporary, os.path.join(self.folder, name))
        return "250 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--folder", required=True)
    arguments = parser.parse_args()
    os.makedirs(arguments.folder, exist_ok=True)
    controller = Controller(Sink(arguments.folder), hostname="127.0.0.1", port=arguments.port)
    controller.start()
    print("ready", flush=True)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        loop.run_until_complete(stop.wait())
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
