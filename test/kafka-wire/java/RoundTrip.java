// The Java client (kafka-clients from the jars scripts/backends/kafka.mjs fetches) against
// kafka-wire, run as a single-file program by test/kafka-wire/java.test.ts:
//   java -cp "<kafka lib>/*" RoundTrip.java <brokers> <topic> <expected>
// produces three keyed records with a header (the default idempotent producer), then reads
// <expected> records in consumer group "java-g" from the earliest offset and commits.
import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.*;

public class RoundTrip {
  public static void main(String[] args) throws Exception {
    String brokers = args[0], topic = args[1];
    Properties p = new Properties();
    p.put("bootstrap.servers", brokers);
    p.put("key.serializer", StringSerializer.class.getName());
    p.put("value.serializer", StringSerializer.class.getName());
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
      for (int i = 0; i < 3; i++) {
        ProducerRecord<String, String> r = new ProducerRecord<>(topic, "jkey-" + i, "java-" + i);
        r.headers().add("origin", "java".getBytes());
        RecordMetadata m = producer.send(r).get();
        System.out.println("SENT " + m.partition() + " " + m.offset());
      }
    }
    Properties c = new Properties();
    c.put("bootstrap.servers", brokers);
    c.put("group.id", "java-g");
    c.put("auto.offset.reset", "earliest");
    c.put("key.deserializer", StringDeserializer.class.getName());
    c.put("value.deserializer", StringDeserializer.class.getName());
    int expected = Integer.parseInt(args[2]);
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c)) {
      consumer.subscribe(List.of(topic));
      int n = 0;
      long until = System.currentTimeMillis() + 20000;
      while (n < expected && System.currentTimeMillis() < until) {
        for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
          StringBuilder h = new StringBuilder();
          for (Header x : r.headers()) h.append(x.key()).append("=").append(new String(x.value())).append(";");
          System.out.println("GOT " + r.partition() + " " + r.offset() + " " + r.key() + " " + r.value() + " " + h);
          n++;
        }
      }
      consumer.commitSync();
    }
  }
}
