"""Unit tests of the emulated PC devices, from the datasheets' described behaviour.

Time is a fake deterministic clock moved by hand; interrupt lines are fakes
that record every level they are driven to.
"""

from __future__ import annotations

import io
from typing import BinaryIO

import pytest

from runtime.pc.clock import Clock
from runtime.pc.devices import (
    CmosRtc,
    DebugExit,
    Pic8259Pair,
    Pit8254,
    Port61,
    PostPort,
    Uart16550,
    exit_status,
    standard_pc,
)

HZ = 1_193_182
NS = 1_000_000_000


class FakeClock(Clock):
    """A deterministic clock whose time the test sets."""

    deterministic = True

    def __init__(self, t: int = 0) -> None:
        super().__init__()
        self.t = t

    def now_ns(self) -> int:
        return self.t


class FakeLine:
    """An interrupt line recording the levels it is driven to."""

    def __init__(self) -> None:
        self.levels: list[bool] = []

    def __call__(self, level: bool) -> None:
        self.levels.append(level)

    @property
    def level(self) -> bool:
        return bool(self.levels) and self.levels[-1]

    @property
    def rising_edges(self) -> int:
        previous, edges = False, 0
        for level in self.levels:
            edges += level and not previous
            previous = level
        return edges


def pit_time(clocks: int) -> int:
    """First ns at which ``clocks`` input clocks of 1.193182 MHz have elapsed."""
    return -(-clocks * NS // HZ)


# --------------------------------------------------------------------------- PIT


def make_pit() -> tuple[Pit8254, FakeClock, FakeLine]:
    clock, line = FakeClock(), FakeLine()
    return Pit8254(clock, line), clock, line


def program(pit: Pit8254, control: int, count: int | None = None, port: int = 0x40) -> None:
    pit.io_write(0x43, 1, control)
    if count is not None:
        pit.io_write(port, 1, count & 0xFF)
        pit.io_write(port, 1, count >> 8)


def read_word(pit: Pit8254, port: int = 0x40) -> int:
    lo = pit.io_read(port, 1)
    return lo | pit.io_read(port, 1) << 8


def test_pit_mode2_irq_edges_at_multiples_of_the_divisor() -> None:
    pit, clock, line = make_pit()
    n = 1193  # ~1 kHz
    program(pit, 0x34, n)  # counter 0, LSB then MSB, mode 2, binary
    for k in range(1, 6):
        due = pit.next_event_ns()
        assert due == pit_time(k * n)
        clock.t = due - 1
        pit.advance(due - 1)
        assert line.rising_edges == k - 1
        clock.t = due
        pit.advance(due)
        assert line.rising_edges == k
        assert line.level is False  # a pulse: raised then lowered
    assert pit.pulses == 5 and pit.coalesced == 0


def test_pit_missed_ticks_coalesce_into_one_pulse() -> None:
    pit, clock, line = make_pit()
    program(pit, 0x34, 1000)
    clock.t = pit_time(10 * 1000) + 5
    pit.advance(clock.t)
    assert line.rising_edges == 1
    assert pit.coalesced == 9
    assert pit.next_event_ns() == pit_time(11 * 1000)


def test_pit_square_wave_period_and_count_zero_is_65536() -> None:
    pit, clock, line = make_pit()
    program(pit, 0x36, 0)  # mode 3, count 0 = 65536: the BIOS's 18.2 Hz tick
    assert pit.next_event_ns() == pit_time(65536)
    clock.t = pit_time(65536)
    pit.advance(clock.t)
    assert pit.next_event_ns() == pit_time(2 * 65536)


def test_pit_mode0_is_one_shot() -> None:
    pit, clock, line = make_pit()
    program(pit, 0x30, 100)  # mode 0: interrupt on terminal count
    assert pit.next_event_ns() == pit_time(100)
    clock.t = pit_time(100)
    pit.advance(clock.t)
    assert line.rising_edges == 1
    assert pit.next_event_ns() is None
    clock.t = pit_time(100_000)
    pit.advance(clock.t)
    assert line.rising_edges == 1


def test_pit_mode0_writing_first_byte_stops_the_count() -> None:
    pit, clock, line = make_pit()
    program(pit, 0x30, 100)
    pit.io_write(0x40, 1, 50)  # LSB only so far: counting is disabled
    assert pit.next_event_ns() is None
    clock.t = 1000
    pit.io_write(0x40, 1, 0)
    assert pit.next_event_ns() == 1000 + pit_time(50)


def test_pit_counter_latch_holds_the_value() -> None:
    pit, clock, _ = make_pit()
    program(pit, 0x34, 1000)
    clock.t = pit_time(300)
    pit.io_write(0x43, 1, 0x00)  # counter latch command, counter 0
    clock.t = pit_time(500)
    assert read_word(pit) == 700  # the value at the latch, not now
    assert read_word(pit) == 500  # unlatched: the live count


def test_pit_read_back_status_then_count() -> None:
    pit, clock, _ = make_pit()
    program(pit, 0x30)  # mode 0, no count yet
    pit.io_write(0x43, 1, 0xE2)  # read-back: status only, counter 0
    # OUT low (mode 0 after the control word), NULL COUNT, RW=11, mode 0
    assert pit.io_read(0x40, 1) == 0x70
    program(pit, 0x34, 1000)
    clock.t = pit_time(10)
    pit.io_write(0x43, 1, 0xC2)  # read-back: count and status, counter 0
    assert pit.io_read(0x40, 1) == 0xB4  # OUT high, count loaded, RW=11, mode 2
    assert read_word(pit) == 990


def test_pit_lsb_only_and_msb_only_access() -> None:
    pit, clock, _ = make_pit()
    program(pit, 0x10)  # counter 0, LSB only, mode 0
    pit.io_write(0x40, 1, 0x80)
    assert pit.next_event_ns() == pit_time(0x80)
    assert pit.io_read(0x40, 1) == 0x80
    assert pit.io_read(0x40, 1) == 0x80  # no toggling
    program(pit, 0x20)  # MSB only
    pit.io_write(0x40, 1, 0x02)
    assert pit.next_event_ns() == pit_time(0x200)
    assert pit.io_read(0x40, 1) == 0x02


def test_pit_bcd_count() -> None:
    pit, clock, _ = make_pit()
    program(pit, 0x31, 0x1000)  # mode 0, BCD 1000
    assert pit.next_event_ns() == pit_time(1000)
    clock.t = pit_time(1)
    assert read_word(pit) == 0x0999


def test_pit_new_count_in_mode2_takes_effect_after_the_period() -> None:
    pit, clock, _ = make_pit()
    program(pit, 0x34, 1000)
    clock.t = pit_time(200)
    pit.io_write(0x40, 1, 500 & 0xFF)
    pit.io_write(0x40, 1, 500 >> 8)
    assert pit.next_event_ns() == pit_time(1000)  # the current period ends first
    clock.t = pit_time(1000)
    pit.advance(clock.t)
    assert pit.next_event_ns() == pit_time(1000) + pit_time(500)


def test_port61_gates_counter2_and_shows_its_output() -> None:
    clock = FakeClock()
    pit = Pit8254(clock, FakeLine())
    port61 = Port61(clock, pit)
    port61.io_write(0x61, 1, 0x00)  # gate 2 low
    program(pit, 0xB0, 1000, port=0x42)  # counter 2, mode 0
    clock.t = pit_time(5000)
    assert port61.io_read(0x61, 1) & 0x20 == 0  # gate low: not counting
    port61.io_write(0x61, 1, 0x01)
    clock.t += pit_time(999)
    assert port61.io_read(0x61, 1) & 0x21 == 0x01
    clock.t += pit_time(2)
    assert port61.io_read(0x61, 1) & 0x21 == 0x21  # terminal count: OUT high


# --------------------------------------------------------------------------- PIC


def init_pics(pic: Pic8259Pair, master: int = 0x20, slave: int = 0x28, icw4: int = 0x01) -> None:
    for cmd, data, base, icw3 in ((0x20, 0x21, master, 0x04), (0xA0, 0xA1, slave, 0x02)):
        pic.io_write(cmd, 1, 0x11)  # ICW1: edge, cascade, ICW4 needed
        pic.io_write(data, 1, base)  # ICW2
        pic.io_write(data, 1, icw3)  # ICW3
        pic.io_write(data, 1, icw4)  # ICW4: 8086 mode
    pic.io_write(0x21, 1, 0x00)
    pic.io_write(0xA1, 1, 0x00)


def pulse(pic: Pic8259Pair, n: int) -> None:
    line = pic.irq_line(n)
    line(True)
    line(False)


def isr(pic: Pic8259Pair, cmd: int = 0x20) -> int:
    pic.io_write(cmd, 1, 0x0B)  # OCW3: read ISR
    return pic.io_read(cmd, 1)


def irr(pic: Pic8259Pair, cmd: int = 0x20) -> int:
    pic.io_write(cmd, 1, 0x0A)  # OCW3: read IRR
    return pic.io_read(cmd, 1)


def test_pic_vector_is_icw2_base_plus_line() -> None:
    pic = Pic8259Pair()
    init_pics(pic, master=0x08)
    assert not pic.pending()
    pulse(pic, 5)
    assert pic.pending()
    assert irr(pic) == 0x20
    assert pic.acknowledge() == 0x0D
    assert isr(pic) == 0x20 and irr(pic) == 0
    assert not pic.pending()
    assert pic.counters.raised[5] == 1 and pic.counters.acknowledged[5] == 1


def test_pic_icw1_resets_mask_and_in_service() -> None:
    pic = Pic8259Pair()
    init_pics(pic)
    pic.io_write(0x21, 1, 0xAA)
    pulse(pic, 0)
    pic.acknowledge()
    init_pics(pic)
    assert pic.io_read(0x21, 1) == 0 and isr(pic) == 0


def test_pic_masked_request_stays_in_irr() -> None:
    pic = Pic8259Pair()
    init_pics(pic)
    pic.io_write(0x21, 1, 0x01)  # OCW1: mask IRQ0
    pulse(pic, 0)
    assert not pic.pending()
    assert irr(pic) == 0x01
    pic.io_write(0x21, 1, 0x00)
    assert pic.pending()
    assert pic.acknowledge() == 0x20


def test_pic_priority_and_eoi() -> None:
    pic = Pic8259Pair()
    init_pics(pic)
    pulse(pic, 3)
    assert pic.acknowledge() == 0x23
    pulse(pic, 5)
    assert not pic.pending()  # IRQ5 ranks below the in-service IRQ3
    pulse(pic, 1)
    assert pic.pending()  # IRQ1 ranks above: it nests
    assert pic.acknowledge() == 0x21
    assert isr(pic) == 0x0A
    pic.io_write(0x20, 1, 0x20)  # non-specific EOI: the highest, IRQ1
    assert isr(pic) == 0x08
    assert not pic.pending()
    pic.io_write(0x20, 1, 0x63)  # specific EOI for IRQ3
    assert isr(pic) == 0
    assert pic.acknowledge() == 0x25


def test_pic_edge_needs_a_new_rising_edge() -> None:
    pic = Pic8259Pair()
    init_pics(pic)
    line = pic.irq_line(4)
    line(True)
    pic.acknowledge()
    pic.io_write(0x20, 1, 0x20)
    assert not pic.pending()  # still high, but no new edge
    line(False)
    line(True)
    assert pic.pending()


def test_pic_level_triggered_line_via_elcr() -> None:
    pic = Pic8259Pair()
    init_pics(pic)
    pic.io_write(0x4D1, 1, 0x08)  # ELCR: IRQ11 level triggered
    line = pic.irq_line(11)
    line(True)
    assert pic.acknowledge() == 0x2B
    pic.io_write(0xA0, 1, 0x20)
    pic.io_write(0x20, 1, 0x20)
    assert pic.pending()  # still asserted: requested again
    assert pic.acknowledge() == 0x2B
    line(False)  # the device lets go before the EOIs ...
    pic.io_write(0xA0, 1, 0x20)
    pic.io_write(0x20, 1, 0x20)
    assert not pic.pending()  # ... so it is not requested again
    line(True)
    pic.io_write(0xA1, 1, 0x08)  # masked after the master latched IR2: the
    assert pic.acknowledge() == 0x2F  # request vanished: default IR7 of the slave


def test_pic_spurious_irq7_when_the_request_vanished() -> None:
    pic = Pic8259Pair()
    init_pics(pic)
    pulse(pic, 6)
    assert pic.pending()
    pic.io_write(0x21, 1, 0x40)  # masked between INT and INTA
    assert pic.acknowledge() == 0x27
    assert isr(pic) == 0  # the default IR7 sets no ISR bit
    assert pic.counters.spurious == 1


def test_pic_cascade_to_slave_vectors() -> None:
    pic = Pic8259Pair()
    init_pics(pic, master=0x20, slave=0x70)
    pulse(pic, 10)
    assert pic.pending()
    assert pic.acknowledge() == 0x72
    assert isr(pic, 0x20) == 0x04 and isr(pic, 0xA0) == 0x04
    pulse(pic, 14)
    assert not pic.pending()  # IRQ14 waits behind IRQ10 in service
    pulse(pic, 0)
    assert pic.pending()  # IRQ0 outranks the cascade line on the master
    assert pic.acknowledge() == 0x20
    pic.io_write(0x20, 1, 0x20)  # EOI IRQ0
    assert not pic.pending()
    pic.io_write(0xA0, 1, 0x20)  # EOI IRQ10: slave, then master
    pic.io_write(0x20, 1, 0x20)
    assert pic.acknowledge() == 0x76
    assert pic.counters.acknowledged[10] == 1 and pic.counters.acknowledged[14] == 1


def test_pic_slave_masked_after_latch_gives_spurious_irq15() -> None:
    pic = Pic8259Pair()
    init_pics(pic, slave=0x70)
    pulse(pic, 12)
    assert pic.pending()
    pic.io_write(0xA1, 1, 0x10)  # the slave's request vanishes (masked) before INTA
    assert pic.acknowledge() == 0x77  # the slave's default IR7: IRQ15
    assert isr(pic, 0x20) == 0x04 and isr(pic, 0xA0) == 0
    assert pic.counters.spurious == 1
    pic.io_write(0x20, 1, 0x20)  # the guest EOIs the master only
    assert isr(pic, 0x20) == 0 and not pic.pending()


def test_pic_slave_auto_eoi_queued_requests_are_not_lost() -> None:
    pic = Pic8259Pair()
    init_pics(pic, slave=0x70, icw4=0x03)
    pulse(pic, 9)
    pulse(pic, 11)
    assert pic.acknowledge() == 0x71
    assert pic.acknowledge() == 0x73


def test_pic_auto_eoi_leaves_isr_clear() -> None:
    pic = Pic8259Pair()
    init_pics(pic, icw4=0x03)  # 8086 mode, automatic EOI
    pulse(pic, 3)
    assert pic.acknowledge() == 0x23
    assert isr(pic) == 0
    pulse(pic, 4)
    assert pic.pending()  # no EOI needed


def test_pic_set_priority_rotates() -> None:
    pic = Pic8259Pair()
    init_pics(pic)
    pic.io_write(0x20, 1, 0xC3)  # OCW2 set priority: IR3 lowest, IR4 highest
    pulse(pic, 1)
    pulse(pic, 5)
    assert pic.acknowledge() == 0x25


def test_pic_poll_mode() -> None:
    pic = Pic8259Pair()
    init_pics(pic)
    pic.io_write(0x20, 1, 0x0C)  # OCW3 poll
    assert pic.io_read(0x20, 1) == 0x00
    pulse(pic, 6)
    pic.io_write(0x20, 1, 0x0C)
    assert pic.io_read(0x20, 1) == 0x86
    assert isr(pic) == 0x40


def test_pic_irq2_is_not_a_device_line() -> None:
    with pytest.raises(ValueError):
        Pic8259Pair().irq_line(2)


# -------------------------------------------------------------------------- UART

COM1 = 0x3F8
RBR, IER, IIR, FCR, LCR, MCR, LSR, MSR, SCR = 0, 1, 2, 2, 3, 4, 5, 6, 7


def make_uart(input: BinaryIO | None = None) -> tuple[Uart16550, io.BytesIO, FakeLine]:
    console, line = io.BytesIO(), FakeLine()
    return Uart16550(irq=line, console=console, input=input), console, line


def rd(uart: Uart16550, reg: int) -> int:
    return uart.io_read(COM1 + reg, 1)


def wr(uart: Uart16550, reg: int, value: int) -> None:
    uart.io_write(COM1 + reg, 1, value)


def test_uart_transmit_streams_to_console() -> None:
    uart, console, _ = make_uart()
    assert rd(uart, LSR) == 0x60  # THRE | TEMT, no data
    for ch in b"hi\n":
        wr(uart, RBR, ch)
        assert console.getvalue()[-1] == ch  # flushed at once
    assert uart.captured == b"hi\n"
    assert rd(uart, LSR) == 0x60


def test_uart_divisor_latch() -> None:
    uart, console, _ = make_uart()
    wr(uart, IER, 0x00)
    wr(uart, LCR, 0x83)  # DLAB, 8N1
    wr(uart, 0, 0x01)
    wr(uart, 1, 0x00)
    assert (rd(uart, 0), rd(uart, 1)) == (0x01, 0x00)
    assert uart.captured == b""  # DLL is not THR
    wr(uart, LCR, 0x03)
    assert rd(uart, IER) == 0x00
    assert uart.char_ns() == -(-10 * 16 * NS // 1_843_200)  # 115200 baud, 10 bits
    wr(uart, 0, ord("x"))
    assert uart.captured == b"x"


def test_uart_scratch_register() -> None:
    uart, _, _ = make_uart()
    wr(uart, SCR, 0x5A)
    assert rd(uart, SCR) == 0x5A


def test_uart_loopback() -> None:
    uart, console, _ = make_uart()
    wr(uart, MCR, 0x10)
    wr(uart, RBR, 0x41)
    assert console.getvalue() == b"" and uart.captured == b""
    assert rd(uart, LSR) & 0x01
    assert rd(uart, RBR) == 0x41
    assert rd(uart, LSR) & 0x01 == 0
    rd(uart, MSR)
    wr(uart, MCR, 0x1B)  # loop + DTR + RTS + OUT2
    assert rd(uart, MSR) == 0xB0 | 0x0B  # CTS DSR DCD, with their delta bits
    assert rd(uart, MSR) == 0xB0
    wr(uart, MCR, 0x14)  # loop + OUT1: RI
    assert rd(uart, MSR) & 0xF0 == 0x40
    wr(uart, MCR, 0x10)
    assert rd(uart, MSR) & 0x04  # TERI: RI trailing edge


def test_uart_loopback_overrun() -> None:
    uart, _, _ = make_uart()
    wr(uart, MCR, 0x10)
    wr(uart, RBR, 1)
    wr(uart, RBR, 2)  # FIFOs off: the holding register is full
    assert rd(uart, LSR) == 0x63  # DR, OE, THRE, TEMT
    assert rd(uart, LSR) == 0x61  # OE clears on read


def test_uart_receive_interrupt_and_iir_priority() -> None:
    uart, _, line = make_uart()
    wr(uart, IER, 0x03)  # received data + THR empty
    assert line.level and rd(uart, IIR) == 0x02  # THRE raised on enabling ETBEI
    assert rd(uart, IIR) == 0x01 and not line.level  # reading IIR cleared it
    wr(uart, RBR, ord("a"))  # THR written, sent at once: THRE again
    assert line.level
    uart.feed(b"z")
    assert uart.next_event_ns() is not None
    uart.advance(1000)
    assert rd(uart, IIR) == 0x04  # data available outranks THR empty
    assert rd(uart, RBR) == ord("z")
    assert rd(uart, IIR) == 0x02
    assert rd(uart, IIR) == 0x01
    assert not line.level
    # ETBEI enabled, THR written; the byte arrived while INTR was already high
    assert line.rising_edges == 2


def test_uart_receive_pace_and_no_overrun() -> None:
    uart, _, _ = make_uart()
    wr(uart, LCR, 0x80)
    wr(uart, 0, 1)  # 115200 baud
    wr(uart, LCR, 0x03)
    char = uart.char_ns()
    uart.feed(b"abc")
    uart.advance(0)
    assert rd(uart, LSR) & 1
    uart.advance(5 * char)  # FIFOs off: "b" waits, nothing overruns
    assert rd(uart, LSR) == 0x61
    assert rd(uart, RBR) == ord("a")
    # "b" was held in the shift register: it moves in as soon as there is room
    assert rd(uart, RBR) == ord("b")
    assert rd(uart, LSR) & 1 == 0  # "c" needs a character time of its own
    assert uart.next_event_ns() == 6 * char
    uart.advance(6 * char)
    assert rd(uart, RBR) == ord("c")
    assert not uart.has_input()


def test_uart_fifo_receives_one_byte_per_character_time() -> None:
    uart, _, _ = make_uart()
    wr(uart, FCR, 0x07)  # FIFOs on and cleared, trigger 1
    char = uart.char_ns()
    uart.feed(b"abc")
    uart.advance(0)
    uart.advance(char - 1)
    assert uart.next_event_ns() == char
    uart.advance(char)
    uart.advance(2 * char)
    assert bytes(rd(uart, RBR) for _ in range(3)) == b"abc"
    assert rd(uart, IIR) & 0xC0 == 0xC0  # FIFOs enabled


def test_uart_fifo_character_timeout() -> None:
    uart, _, line = make_uart()
    wr(uart, FCR, 0xC1)  # trigger level 14
    wr(uart, IER, 0x01)
    char = uart.char_ns()
    uart.feed(b"hi")
    uart.advance(0)
    uart.advance(char)
    assert not line.level  # 2 bytes < 14: no data-available interrupt yet
    due = uart.next_event_ns()
    assert due == char + 4 * char
    uart.advance(due)
    assert line.level
    assert rd(uart, IIR) == 0xCC  # character timeout
    assert rd(uart, RBR) == ord("h")
    assert rd(uart, RBR) == ord("i")
    assert not line.level


def test_uart_input_stream_is_read() -> None:
    uart, _, _ = make_uart(input=io.BytesIO(b"ok"))
    uart.advance(0)
    assert rd(uart, RBR) == ord("o")
    assert uart.received == 1


def test_uart_no_input() -> None:
    uart, _, _ = make_uart(input=None)
    assert uart.next_event_ns() is None
    uart.advance(10**9)
    assert rd(uart, LSR) & 1 == 0


# --------------------------------------------------------------- debug exit, POST


def test_debug_exit_calls_on_exit_with_the_value() -> None:
    seen: list[int] = []
    dev = DebugExit(on_exit=seen.append)
    dev.io_write(0xF4, 1, 0x10)
    dev.io_write(0xF4, 4, 0x12345678)
    assert seen == [0x10, 0x12345678]
    assert exit_status(0x10) == 0x21 and exit_status(0) == 1
    assert dev.io_read(0xF4, 4) == 0  # QEMU's debug_exit_read
    assert list(DebugExit(base=0x501, size=2).ports[0]) == [0x501, 0x502]


def test_post_port() -> None:
    post = PostPort()
    post.io_write(0x80, 1, 0x55)
    assert post.writes == 1 and post.last_code == 0x55
    assert post.io_read(0x80, 1) == 0xFF


# -------------------------------------------------------------------------- CMOS


def cmos_read(cmos: CmosRtc, reg: int) -> int:
    cmos.io_write(0x70, 1, reg)
    return cmos.io_read(0x71, 1)


def cmos_write(cmos: CmosRtc, reg: int, value: int) -> None:
    cmos.io_write(0x70, 1, reg)
    cmos.io_write(0x71, 1, value)


def test_cmos_index_and_data() -> None:
    cmos = CmosRtc(FakeClock(), 128 << 20)
    cmos_write(cmos, 0x40, 0x5A)
    assert cmos_read(cmos, 0x40) == 0x5A
    assert cmos_read(cmos, 0x80 | 0x40) == 0x5A  # bit 7: NMI disable, not address
    assert cmos.io_read(0x70, 1) == 0xFF
    assert cmos_read(cmos, 0x0D) == 0x80  # valid RAM and time
    assert cmos_read(cmos, 0x0A) & 0x80 == 0  # UIP never set
    assert cmos_read(cmos, 0x0B) == 0x02  # 24 hour, BCD


def test_cmos_deterministic_epoch_in_bcd_and_binary() -> None:
    clock = FakeClock()
    cmos = CmosRtc(clock, 128 << 20)
    regs = (0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32)
    # 2000-01-01 00:00:00 was a Saturday: day of week 7 (1 = Sunday).
    assert [cmos_read(cmos, r) for r in regs] == [0, 0, 0, 7, 1, 1, 0, 0x20]
    clock.t = (13 * 3600 + 45 * 60 + 59) * NS + NS // 2
    assert [cmos_read(cmos, r) for r in (0x04, 0x02, 0x00)] == [0x13, 0x45, 0x59]
    cmos_write(cmos, 0x0B, 0x06)  # binary
    assert [cmos_read(cmos, r) for r in (0x04, 0x02, 0x00, 0x32)] == [13, 45, 59, 20]
    cmos_write(cmos, 0x0B, 0x00)  # BCD, 12 hour
    assert cmos_read(cmos, 0x04) == 0x80 | 0x01  # 1 PM


def test_cmos_guest_sets_the_clock() -> None:
    clock = FakeClock()
    cmos = CmosRtc(clock, 128 << 20)
    cmos_write(cmos, 0x0B, 0x82)  # SET: freeze the clock
    for reg, value in ((0x09, 0x24), (0x08, 0x02), (0x07, 0x29), (0x04, 0x23), (0x02, 0x59)):
        cmos_write(cmos, reg, value)
    clock.t = 5 * NS
    assert cmos_read(cmos, 0x00) == 0x00  # frozen while SET
    cmos_write(cmos, 0x0B, 0x02)
    clock.t = 65 * NS
    assert [cmos_read(cmos, r) for r in (0x09, 0x08, 0x07, 0x04, 0x02, 0x00)] == [
        0x24,
        0x03,
        0x01,
        0x00,
        0x00,
        0x00,
    ]  # 2024-02-29 23:59:00 + 60 s


def test_cmos_memory_size_bytes_for_128_mib() -> None:
    cmos = CmosRtc(FakeClock(), 128 << 20)
    base = cmos_read(cmos, 0x15) | cmos_read(cmos, 0x16) << 8
    ext = cmos_read(cmos, 0x17) | cmos_read(cmos, 0x18) << 8
    ext2 = cmos_read(cmos, 0x30) | cmos_read(cmos, 0x31) << 8
    high = cmos_read(cmos, 0x34) | cmos_read(cmos, 0x35) << 8
    assert base == 640
    assert ext == ext2 == 0xFFFF  # KiB above 1 MiB (127 * 1024), capped at 0xffff
    assert high == (128 - 16) * 1024 // 64  # 64 KiB units above 16 MiB


def test_cmos_extended_memory_is_capped() -> None:
    cmos = CmosRtc(FakeClock(), 2 << 30)
    assert cmos_read(cmos, 0x17) | cmos_read(cmos, 0x18) << 8 == 0xFFFF
    assert cmos_read(cmos, 0x34) | cmos_read(cmos, 0x35) << 8 == (2048 - 16) * 16


# ------------------------------------------------------------------- standard PC


def test_standard_pc_wires_pit_to_irq0_and_uart_to_irq4() -> None:
    clock, console = FakeClock(), io.BytesIO()
    exits: list[int] = []
    bus, pic, uart = standard_pc(clock, console, None, exits.append, 64 << 20)
    for port, value in ((0x20, 0x11), (0x21, 0x20), (0x21, 4), (0x21, 1), (0x21, 0)):
        bus.write(port, 1, value)
    for port, value in ((0xA0, 0x11), (0xA1, 0x28), (0xA1, 2), (0xA1, 1), (0xA1, 0)):
        bus.write(port, 1, value)
    bus.write(0x43, 1, 0x34)
    bus.write(0x40, 1, 1000 & 0xFF)
    bus.write(0x40, 1, 1000 >> 8)
    due = bus.next_event_ns()
    assert due == pit_time(1000)
    clock.t = due
    bus.advance(due)
    assert pic.pending() and pic.acknowledge() == 0x20
    bus.write(0x20, 1, 0x20)

    bus.write(0x3F9, 1, 0x01)
    uart.feed(b"k")
    clock.t += 1
    bus.advance(clock.t)
    assert pic.pending() and pic.acknowledge() == 0x24
    assert bus.read(0x3F8, 1) == ord("k")

    bus.write(0x3F8, 1, ord("!"))
    assert console.getvalue() == b"!"
    assert bus.read(0x71, 1) is not None and bus.read(0x61, 1) & 0xC0 == 0
    bus.write(0xF4, 1, 0x31)
    assert exits == [0x31]
    assert bus.counters["uart0"].writes >= 2
